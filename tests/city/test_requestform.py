"""`safesmart-city request` flags become the admin API body the server validates."""

from __future__ import annotations

import argparse
import io

import pytest

from city.errors import CityError
from city.requestform import add_request_flags, request_body
from city.requests import parse_issue
from protocol.timeutil import utcnow

FLAGS = [
    "--case", "2026-77", "--agency", "Testville Police", "--agency-id", "TPD",
    "--officer", "Det. Rivera", "--type", "theft", "--description", "Bike taken",
    "--lat", "41.5", "--lon", "-81.69", "--radius", "250",
    "--start", "2026-11-20T08:00:00Z", "--end", "2026-11-20T09:00:00-00:00",
    "--legal-basis", "subpoena", "--testify", "--camera", "r1", "--camera", "r2",
]  # fmt: skip


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_request_flags(parser)
    return parser.parse_args(argv)


def test_flags_make_a_valid_request() -> None:
    body = request_body(_parse(FLAGS))
    assert body["registration_ids"] == ["r1", "r2"]
    assert body["window"]["end"] == "2026-11-20T09:00:00Z"
    assert body["disclosures"]["may_be_asked_to_testify"] is True
    template, asked = parse_issue(body, utcnow())
    assert asked == ("r1", "r2")
    assert template.legal_basis.value == "subpoena" and template.incident.radius_m == 250


def test_missing_flags_are_named() -> None:
    partial = FLAGS[: FLAGS.index("--lat")]
    with pytest.raises(CityError, match="--lat --lon --radius --start --end"):
        request_body(_parse(partial))


def test_json_file_must_hold_an_object() -> None:
    args = _parse([])
    args.json = io.BytesIO(b"[1, 2]")
    args.json.name = "request.json"
    with pytest.raises(CityError, match="JSON object"):
        request_body(args)
