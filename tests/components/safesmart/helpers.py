"""Typed look-ups shared by the tests: they fail with a clear message instead of returning None."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, State


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    """The entity's current state; the test fails if the entity has none."""
    state = hass.states.get(entity_id)
    assert state is not None, f"{entity_id} has no state"
    return state
