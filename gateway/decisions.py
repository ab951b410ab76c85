"""Consent rules and privacy mode (pure): what may be decided without asking the resident.

The rules file format is described for residents in docs/consent-rules.md.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from protocol.messages import FootageRequest, IncidentType, LegalBasis

PRIVACY_MODE = "privacy_mode"
RULE_FIELDS = frozenset(
    {"name", "action", "incident_types", "legal_bases", "max_distance_m",
     "max_window_minutes", "agencies", "cameras"}
)  # fmt: skip
FILE_FIELDS = frozenset({"version", "rules"})
RULES_VERSION = 1


class RuleAction(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"


class RulesError(Exception):
    """The consent rules file cannot be used; the message names the rule and the field."""

    def __init__(self, message: str, index: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


@dataclass(frozen=True)
class ConsentRule:
    """One rule; every condition that is not None must hold. A camera condition is per camera."""

    name: str
    action: RuleAction
    incident_types: frozenset[IncidentType] | None = None
    legal_bases: frozenset[LegalBasis] | None = None
    max_distance_m: float | None = None
    max_window_minutes: float | None = None
    agencies: frozenset[str] | None = None
    cameras: frozenset[str] | None = None

    def matches_request(self, request: FootageRequest) -> bool:
        """Whether the request-wide conditions (type, basis, window, agency) hold."""
        minutes = request.window.duration.total_seconds() / 60
        return (
            (self.incident_types is None or request.incident.type in self.incident_types)
            and (self.legal_bases is None or request.legal_basis in self.legal_bases)
            and (self.max_window_minutes is None or minutes <= self.max_window_minutes)
            and (
                self.agencies is None
                or request.agency.id in self.agencies
                or request.agency.name in self.agencies
            )
        )

    def matches_camera(self, registration_id: str, distance_m: float) -> bool:
        """Whether the per-camera conditions (which camera, how far) hold."""
        return (self.cameras is None or registration_id in self.cameras) and (
            self.max_distance_m is None or distance_m <= self.max_distance_m
        )


@dataclass(frozen=True)
class Decision:
    """What to do with which cameras, and who decided: "rule:<name>" or "privacy_mode"."""

    action: RuleAction
    decided_by: str
    cameras: tuple[str, ...]


def decide(
    request: FootageRequest,
    camera_distances: Mapping[str, float],
    rules: Sequence[ConsentRule],
    privacy_mode: bool,
) -> Decision | None:
    """The automatic decision for a request's cameras, or None to ask the resident."""
    if not camera_distances:
        return None
    if privacy_mode:
        return Decision(RuleAction.DECLINE, PRIVACY_MODE, tuple(camera_distances))
    for rule in rules:
        if not rule.matches_request(request):
            continue
        covered = tuple(
            camera
            for camera, distance in camera_distances.items()
            if rule.matches_camera(camera, distance)
        )
        if covered:
            return Decision(rule.action, f"rule:{rule.name}", covered)
    return None


def load_rules(path: Path) -> list[ConsentRule]:
    """Read the resident's rules file; a missing file means no rules."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as err:
        raise RulesError(f"Cannot read the consent rules file: {err}") from err
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise RulesError(
            f"The consent rules file is not valid JSON (line {err.lineno}, column {err.colno}):"
            f" {err.msg}."
        ) from err
    return parse_rules(document)


def parse_rules(document: object) -> list[ConsentRule]:
    """Strictly turn a parsed rules document into rules (unknown keys and bad values refused)."""
    if not isinstance(document, dict):
        raise RulesError(
            'The consent rules file must be a JSON object: {"version": 1, "rules": [...]}.'
        )
    unknown = sorted(set(document) - FILE_FIELDS)
    if unknown:
        raise RulesError(
            f"Unknown top-level keys {unknown}; only 'version' and 'rules' are allowed."
        )
    if document.get("version", RULES_VERSION) != RULES_VERSION:
        raise RulesError(f"Unsupported rules file version {document['version']!r}; use 1.")
    items = document.get("rules")
    if not isinstance(items, list):
        raise RulesError("'rules' must be a list of rules (it may be empty).")
    rules = [_parse_rule(index, item) for index, item in enumerate(items, start=1)]
    seen: set[str] = set()
    for index, rule in enumerate(rules, start=1):
        if rule.name in seen:
            raise _error(index, rule.name, "name", "another rule already has this name")
        seen.add(rule.name)
    return rules


def _error(index: int, name: str | None, field: str | None, problem: str) -> RulesError:
    who = f'rule {index} ("{name}")' if name else f"rule {index}"
    where = f', field "{field}"' if field else ""
    return RulesError(f"Consent {who}{where}: {problem}.", index, field)


def _parse_rule(index: int, item: object) -> ConsentRule:
    if not isinstance(item, dict):
        raise _error(index, None, None, "must be a JSON object")
    raw_name = item.get("name")
    name = raw_name if isinstance(raw_name, str) and raw_name.strip() else None
    fail: Callable[[str, str], RulesError] = functools.partial(_error, index, name)
    for key in sorted(set(item) - RULE_FIELDS):
        raise fail(key, f"unknown key; allowed keys are {', '.join(sorted(RULE_FIELDS))}")
    if name is None:
        raise fail("name", "a non-empty name is required")
    if "action" not in item:
        raise fail("action", "required: approve or decline")
    try:
        action = RuleAction(item["action"])
    except ValueError:
        raise fail("action", f"{item['action']!r} is not approve or decline") from None
    return ConsentRule(
        name=name.strip(),
        action=action,
        incident_types=_choices(item, "incident_types", IncidentType, fail),
        legal_bases=_choices(item, "legal_bases", LegalBasis, fail),
        max_distance_m=_positive(item, "max_distance_m", fail),
        max_window_minutes=_positive(item, "max_window_minutes", fail),
        agencies=_strings(item, "agencies", fail),
        cameras=_strings(item, "cameras", fail),
    )


def _strings(
    item: Mapping[str, Any], field: str, fail: Callable[[str, str], RulesError]
) -> frozenset[str] | None:
    if field not in item:
        return None
    value = item[field]
    if not isinstance(value, list) or not value:
        raise fail(field, "must be a non-empty list (leave the key out to match any)")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(field, "every entry must be a non-empty string")
    return frozenset(v.strip() for v in value)


def _choices[E: StrEnum](
    item: Mapping[str, Any], field: str, enum: type[E], fail: Callable[[str, str], RulesError]
) -> frozenset[E] | None:
    values = _strings(item, field, fail)
    if values is None:
        return None
    allowed = {member.value for member in enum}
    for value in sorted(values):
        if value not in allowed:
            raise fail(field, f"{value!r} is not one of {', '.join(sorted(allowed))}")
    return frozenset(enum(value) for value in values)


def _positive(
    item: Mapping[str, Any], field: str, fail: Callable[[str, str], RulesError]
) -> float | None:
    if field not in item:
        return None
    value = item[field]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(field, "must be a number")
    if not math.isfinite(value) or value <= 0:
        raise fail(field, "must be a positive number")
    return float(value)
