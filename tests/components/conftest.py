"""Shared set-up for the Home Assistant tests (run with .venv-ha/bin/pytest tests/components)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

# pytest-homeassistant-custom-component's testing_config ships its own `custom_components`
# package; import the repository's first so Home Assistant's loader finds SafeSmart.
import custom_components
import custom_components.safesmart

REPO_COMPONENTS = Path(__file__).resolve().parents[2] / "custom_components"
assert str(REPO_COMPONENTS) in list(custom_components.__path__), custom_components.__path__


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the repository's custom integration in every test."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialise with Home Assistant's extension (ids and times become ANY)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)
