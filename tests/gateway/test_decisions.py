"""Consent rules and privacy mode: matching, ordering, and strict loading of the rules file."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decisions import (
    ConsentRule,
    Decision,
    RuleAction,
    RulesError,
    decide,
    load_rules,
    parse_rules,
)
from protocol.messages import Agency, FootageRequest, Incident, IncidentType, LegalBasis
from protocol.timeutil import TimeWindow
from tests.gateway.trust_factories import NOW, make_request

DISTANCES = {"reg-front": 40.0, "reg-drive": 250.0}


def request_with(
    incident: IncidentType = IncidentType.BURGLARY,
    basis: LegalBasis = LegalBasis.VOLUNTARY,
    minutes: int = 30,
    agency: str = "cle-pd",
) -> FootageRequest:
    base = make_request()
    start = NOW - timedelta(hours=13)
    return make_request(
        incident=Incident(incident, "x", base.incident.point, base.incident.radius_m),
        legal_basis=basis,
        window=TimeWindow(start, start + timedelta(minutes=minutes)),
        agency=Agency("Police", agency),
    )


def test_no_rules_asks_the_resident() -> None:
    assert decide(make_request(), DISTANCES, [], privacy_mode=False) is None


def test_privacy_mode_declines_everything_before_rules() -> None:
    rules = [ConsentRule("all", RuleAction.APPROVE)]
    assert decide(make_request(), DISTANCES, rules, privacy_mode=True) == Decision(
        RuleAction.DECLINE, "privacy_mode", ("reg-front", "reg-drive")
    )


def test_first_matching_rule_wins() -> None:
    rules = [
        ConsentRule("warrants", RuleAction.APPROVE, legal_bases=frozenset({LegalBasis.WARRANT})),
        ConsentRule("no-theft", RuleAction.DECLINE, incident_types=frozenset({IncidentType.THEFT})),
        ConsentRule(
            "burglary", RuleAction.APPROVE, incident_types=frozenset({IncidentType.BURGLARY})
        ),
        ConsentRule("everything", RuleAction.DECLINE),
    ]
    assert decide(request_with(), DISTANCES, rules, False) == Decision(
        RuleAction.APPROVE, "rule:burglary", ("reg-front", "reg-drive")
    )
    assert decide(request_with(IncidentType.THEFT), DISTANCES, rules, False) == Decision(
        RuleAction.DECLINE, "rule:no-theft", ("reg-front", "reg-drive")
    )
    warrant = request_with(IncidentType.THEFT, LegalBasis.WARRANT)
    assert decide(warrant, DISTANCES, rules, False) == Decision(
        RuleAction.APPROVE, "rule:warrants", ("reg-front", "reg-drive")
    )


def test_approve_rule_covers_only_the_cameras_it_matches() -> None:
    rules = [ConsentRule("near", RuleAction.APPROVE, max_distance_m=100)]
    assert decide(make_request(), DISTANCES, rules, False) == Decision(
        RuleAction.APPROVE, "rule:near", ("reg-front",)
    )
    only_drive = [ConsentRule("drive", RuleAction.APPROVE, cameras=frozenset({"reg-drive"}))]
    assert decide(make_request(), DISTANCES, only_drive, False) == Decision(
        RuleAction.APPROVE, "rule:drive", ("reg-drive",)
    )


def test_rule_matching_no_camera_falls_through() -> None:
    rules = [
        ConsentRule("very-near", RuleAction.APPROVE, max_distance_m=10),
        ConsentRule("rest", RuleAction.DECLINE, max_distance_m=300),
    ]
    assert decide(make_request(), DISTANCES, rules, False) == Decision(
        RuleAction.DECLINE, "rule:rest", ("reg-front", "reg-drive")
    )


def test_window_and_agency_conditions() -> None:
    short = [ConsentRule("short", RuleAction.APPROVE, max_window_minutes=30)]
    assert decide(request_with(minutes=30), DISTANCES, short, False) is not None
    assert decide(request_with(minutes=31), DISTANCES, short, False) is None
    by_agency = [ConsentRule("cle", RuleAction.APPROVE, agencies=frozenset({"Police"}))]
    assert decide(request_with(agency="other"), DISTANCES, by_agency, False) is not None
    by_id = [ConsentRule("cle", RuleAction.APPROVE, agencies=frozenset({"cle-pd"}))]
    assert decide(request_with(agency="other"), DISTANCES, by_id, False) is None


def test_no_cameras_means_nothing_to_decide() -> None:
    assert decide(make_request(), {}, [ConsentRule("a", RuleAction.APPROVE)], True) is None


rules_strategy = st.builds(
    ConsentRule,
    name=st.text("abcdef", min_size=1, max_size=4),
    action=st.sampled_from(RuleAction),
    incident_types=st.none() | st.frozensets(st.sampled_from(IncidentType), min_size=1),
    legal_bases=st.none() | st.frozensets(st.sampled_from(LegalBasis), min_size=1),
    max_distance_m=st.none() | st.floats(1, 900),
    max_window_minutes=st.none() | st.floats(1, 720),
    agencies=st.none() | st.frozensets(st.sampled_from(["cle-pd", "Police", "fbi"]), min_size=1),
    cameras=st.none() | st.frozensets(st.sampled_from(["c1", "c2", "c3"]), min_size=1),
)


@given(
    rules=st.lists(rules_strategy, max_size=6),
    distances=st.dictionaries(st.sampled_from(["c1", "c2", "c3"]), st.floats(0, 900)),
    incident=st.sampled_from(IncidentType),
    basis=st.sampled_from(LegalBasis),
    minutes=st.integers(1, 720),
    agency=st.sampled_from(["cle-pd", "other"]),
    privacy_mode=st.booleans(),
)
def test_decision_properties(
    rules: list[ConsentRule],
    distances: dict[str, float],
    incident: IncidentType,
    basis: LegalBasis,
    minutes: int,
    agency: str,
    privacy_mode: bool,
) -> None:
    request = request_with(incident, basis, minutes, agency)
    decision = decide(request, distances, rules, privacy_mode)
    if not distances:
        assert decision is None
        return
    if privacy_mode:
        assert decision == Decision(RuleAction.DECLINE, "privacy_mode", tuple(distances))
        return

    def covered(rule: ConsentRule) -> tuple[str, ...]:
        if not rule.matches_request(request):
            return ()
        return tuple(c for c, d in distances.items() if rule.matches_camera(c, d))

    winners = [rule for rule in rules if covered(rule)]
    if not winners:
        assert decision is None
        return
    first = winners[0]
    assert decision == Decision(first.action, f"rule:{first.name}", covered(first))
    # Nothing outside the winning rule's conditions is ever approved.
    for camera in decision.cameras:
        assert first.cameras is None or camera in first.cameras
        assert first.max_distance_m is None or distances[camera] <= first.max_distance_m
    assert first.incident_types is None or incident in first.incident_types
    assert first.legal_bases is None or basis in first.legal_bases


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_missing_file_means_no_rules(tmp_path: Path) -> None:
    assert load_rules(tmp_path / "rules.json") == []


def test_full_rules_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "version": 1,
            "rules": [
                {
                    "name": "Nearby burglaries",
                    "action": "approve",
                    "incident_types": ["burglary", "theft"],
                    "legal_bases": ["voluntary", "warrant"],
                    "max_distance_m": 150,
                    "max_window_minutes": 60.5,
                    "agencies": ["cle-pd"],
                    "cameras": ["reg-front"],
                },
                {"name": "Everything else", "action": "decline"},
            ],
        },
    )
    assert load_rules(path) == [
        ConsentRule(
            "Nearby burglaries",
            RuleAction.APPROVE,
            frozenset({IncidentType.BURGLARY, IncidentType.THEFT}),
            frozenset({LegalBasis.VOLUNTARY, LegalBasis.WARRANT}),
            150.0,
            60.5,
            frozenset({"cle-pd"}),
            frozenset({"reg-front"}),
        ),
        ConsentRule("Everything else", RuleAction.DECLINE),
    ]


GOOD = {"name": "ok", "action": "approve"}


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ({**GOOD, "max_distnce_m": 100}, "max_distnce_m", 'field "max_distnce_m": unknown key'),
        ({"action": "approve"}, "name", 'rule 2, field "name": a non-empty name is required'),
        ({**GOOD, "name": "  "}, "name", "a non-empty name is required"),
        ({"name": "x"}, "action", r'rule 2 \("x"\), field "action": required'),
        ({**GOOD, "action": "maybe"}, "action", "'maybe' is not approve or decline"),
        ({**GOOD, "incident_types": ["burglery"]}, "incident_types", "'burglery' is not one of"),
        ({**GOOD, "incident_types": []}, "incident_types", "non-empty list"),
        ({**GOOD, "incident_types": "burglary"}, "incident_types", "non-empty list"),
        ({**GOOD, "legal_bases": ["hunch"]}, "legal_bases", "'hunch' is not one of"),
        ({**GOOD, "max_distance_m": "100"}, "max_distance_m", "must be a number"),
        ({**GOOD, "max_distance_m": True}, "max_distance_m", "must be a number"),
        ({**GOOD, "max_distance_m": -5}, "max_distance_m", "must be a positive number"),
        ({**GOOD, "max_window_minutes": 0}, "max_window_minutes", "positive number"),
        ({**GOOD, "agencies": ["cle-pd", 7]}, "agencies", "every entry must be a non-empty string"),
        ({**GOOD, "cameras": [""]}, "cameras", "every entry must be a non-empty string"),
        ({**GOOD, "name": "first"}, "name", "another rule already has this name"),
    ],
)
def test_bad_rule_names_index_and_field(
    tmp_path: Path, rule: dict[str, Any], field: str, message: str
) -> None:
    path = write(tmp_path, {"rules": [{"name": "first", "action": "decline"}, rule]})
    with pytest.raises(RulesError, match=message) as info:
        load_rules(path)
    assert (info.value.index, info.value.field) == (2, field)
    assert "rule 2" in str(info.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", r"not valid JSON \(line 1, column 2\)"),
        ("[]", "must be a JSON object"),
        ('{"rules": [], "privacy": true}', r"Unknown top-level keys \['privacy'\]"),
        ('{"version": 2, "rules": []}', "Unsupported rules file version 2"),
        ('{"version": 1}', "'rules' must be a list"),
        ('{"rules": ["approve"]}', "rule 1: must be a JSON object"),
    ],
)
def test_bad_rules_file_is_refused(tmp_path: Path, document: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        load_rules(write(tmp_path, document))


def test_unreadable_rules_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rules.json").mkdir()
    with pytest.raises(RulesError, match="Cannot read the consent rules file"):
        load_rules(tmp_path / "rules.json")


def test_parse_rules_accepts_an_empty_list() -> None:
    assert parse_rules({"version": 1, "rules": []}) == []


def test_documented_examples_load_and_behave_as_described() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "consent-rules.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", doc, re.DOTALL)
    examples = [parse_rules(json.loads(block)) for block in blocks[1:]]  # the first is the schema
    assert len(examples) == 3
    property_crime, garden, _agency = examples
    nearby = decide(request_with(), {"front": 100.0, "back": 300.0}, property_crime, False)
    assert nearby == Decision(RuleAction.APPROVE, "rule:Nearby property crime", ("front",))
    subpoena = request_with(IncidentType.ROBBERY, LegalBasis.SUBPOENA)
    assert decide(subpoena, {"front": 100.0}, property_crime, False) is None
    missing = request_with(IncidentType.MISSING_PERSON)
    both = {"reg-7f3a": 10.0, "reg-drive": 20.0}
    assert decide(missing, both, garden, False) == Decision(
        RuleAction.DECLINE, "rule:Garden stays private", ("reg-7f3a",)
    )
    assert decide(missing, both, garden[::-1], False) == Decision(
        RuleAction.APPROVE, "rule:Missing persons", ("reg-7f3a", "reg-drive")
    )
