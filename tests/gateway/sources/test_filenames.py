"""File-name patterns: start times, cameras and the zone each name fixes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

import pytest

from gateway.sources.filenames import NamePattern, parse_recording_name

NEW_YORK = ZoneInfo("America/New_York")


def parse(rel: str, zone: ZoneInfo | None = None):  # type: ignore[no-untyped-def]
    return parse_recording_name(PurePosixPath(rel), zone or ZoneInfo("UTC"))


def test_frigate_recording_is_utc_whatever_the_configured_zone() -> None:
    parsed = parse("recordings/2026-11-21/09/front_door/30.15.mp4", NEW_YORK)
    assert parsed is not None
    assert parsed.pattern is NamePattern.FRIGATE_RECORDING
    assert parsed.start == datetime(2026, 11, 21, 9, 30, 15, tzinfo=UTC)
    assert parsed.camera == "front_door"
    assert parsed.fixed_zone == "UTC"


def test_frigate_clip_carries_an_absolute_unix_time() -> None:
    parsed = parse("clips/driveway-1795253400.512345-ab12cd.mp4", NEW_YORK)
    assert parsed is not None and parsed.pattern is NamePattern.FRIGATE_CLIP
    assert parsed.start == datetime(2026, 11, 21, 9, 30, 0, 512345, tzinfo=UTC)
    assert parsed.camera == "driveway"


def test_hikvision_channel_name_in_local_time() -> None:
    parsed = parse("ch01_20261121093000.mp4", NEW_YORK)
    assert parsed is not None and parsed.pattern is NamePattern.HIKVISION
    assert parsed.camera == "ch01"
    assert parsed.start == datetime(2026, 11, 21, 14, 30, tzinfo=UTC)
    assert parsed.fixed_zone is None


@pytest.mark.parametrize(
    ("name", "camera"),
    [
        ("front_20261121_093000.mp4", "front"),
        ("camera.porch_20261121-093000.mp4", "camera.porch"),
        ("20261121-093000.mp4", None),
        ("porch 2026-11-21_09-30-00.mkv", "porch"),
        ("porch_2026-11-21T09.30.00.mp4", "porch"),
    ],
)
def test_generic_date_time_names(name: str, camera: str | None) -> None:
    parsed = parse(name)
    assert parsed is not None and parsed.pattern is NamePattern.DATE_TIME
    assert parsed.start == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    assert parsed.camera == camera


def test_an_offset_in_the_name_wins_over_the_configured_zone() -> None:
    parsed = parse("porch_20261121T093000+0100.mp4", NEW_YORK)
    assert parsed is not None
    assert parsed.start == datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    assert parsed.fixed_zone == "+01:00"


def test_ambiguous_local_time_takes_the_first_occurrence() -> None:
    # 2026-11-01 01:30 happens twice in New York; the first is EDT (UTC-4).
    parsed = parse("porch_20261101_013000.mp4", NEW_YORK)
    assert parsed is not None
    assert parsed.start.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    ["holiday.mp4", "porch_20261341_093000.mp4", "porch_20261121_256000.mp4", "ch01_2026.mp4",
     "clip-12.5-x.mp4", "recordings/2026-13-01/09/cam/30.00.mp4"],
)
def test_names_without_a_valid_time_match_nothing(name: str) -> None:
    assert parse(name) is None
