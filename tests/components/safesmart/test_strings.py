"""Translations, services.yaml and icons agree with each other and with the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

COMPONENT = Path(__file__).resolve().parents[3] / "custom_components" / "safesmart"


def load(name: str) -> Any:
    """Read one of the integration's JSON files."""
    return json.loads((COMPONENT / name).read_text())


def test_services_are_documented_and_translated() -> None:
    """Every action and field in services.yaml has a name, description and icon."""
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    strings = load("strings.json")["services"]
    icons = load("icons.json")["services"]
    assert set(services) == set(strings) == set(icons)
    for service, spec in services.items():
        assert strings[service]["name"] and strings[service]["description"]
        assert set(spec["fields"]) == set(strings[service]["fields"])
        for field in strings[service]["fields"].values():
            assert field["name"] and field["description"]


def test_english_translation_matches_strings() -> None:
    """translations/en.json has exactly the keys of strings.json, with references resolved."""

    def keys(tree: object, prefix: str = "") -> set[str]:
        if not isinstance(tree, dict):
            return {prefix}
        return {k for key, sub in tree.items() for k in keys(sub, f"{prefix}/{key}")}

    strings, english = load("strings.json"), load("translations/en.json")
    assert keys(strings) == keys(english)
    assert "[%key:" not in json.dumps(english)
    assert "http://" not in json.dumps(strings) and "https://" not in json.dumps(strings)


async def test_every_entity_translation_and_icon_exists(
    hass: HomeAssistant, init_integration: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Each entity's translation key has a name and an icon."""
    strings, icons = load("strings.json")["entity"], load("icons.json")["entity"]
    entries = er.async_entries_for_config_entry(entity_registry, init_integration.entry_id)
    assert entries
    for entry in entries:
        assert strings[entry.domain][entry.translation_key]["name"]
        assert icons[entry.domain][entry.translation_key]["default"].startswith("mdi:")


def test_manifest_is_hacs_ready() -> None:
    """domain and name first, the rest sorted; local push; no requirements."""
    manifest = load("manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"] and keys[2:] == sorted(keys[2:])
    assert manifest["iot_class"] == "local_push"
    assert manifest["requirements"] == []
    assert manifest["zeroconf"] == ["_safesmart._tcp.local."]
    hacs = json.loads((COMPONENT.parents[1] / "hacs.json").read_text())
    assert set(hacs) <= {
        "name",
        "homeassistant",
        "country",
        "render_readme",
        "zip_release",
        "filename",
        "hide_default_branch",
        "content_in_root",
        "persistent_directory",
    }
