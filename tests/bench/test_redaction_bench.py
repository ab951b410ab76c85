"""The redaction benchmark's own yardstick: generated ground truth and the coverage figures."""

import dataclasses
import json
import typing
from pathlib import Path

import av
import numpy as np
import pytest

from bench.redaction.coverage import measure
from bench.redaction.generate import ClipSpec, background, cast, generate, is_current, render


def refill(
    source: Path,
    target: Path,
    truth: list[list[dict[str, object]]],
    kinds: set[str],
    skip: int = 0,
) -> None:
    """Re-encode `source` from frame `skip` on with every ground-truth box of the given kinds
    filled black."""
    with av.open(str(source)) as clip, av.open(str(target), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "16", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for index, frame in enumerate(clip.decode(video=0)):
            if index < skip:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            for region in truth[index]:
                if region["kind"] in kinds:
                    x0, y0, x1, y1 = typing.cast("list[int]", region["box"])
                    rgb[max(0, y0) : y1, max(0, x0) : x1] = 0
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode(None))


def test_coverage_counts_filled_ground_truth_and_nothing_else(tmp_path: Path) -> None:
    clip = generate(ClipSpec("tiny", 320, 180, 2.0), tmp_path)
    meta = json.loads((tmp_path / "tiny.json").read_text())
    truth = meta["truth"]
    assert meta["frames"] == len(truth) == 60
    assert not any(truth[:45])  # the first 1.5 s are empty, to measure false obscuring
    assert {r["kind"] for frame in truth[45:] for r in frame} == {"face", "plate"}

    untouched = measure(clip, clip, truth).summary()
    assert untouched["face_coverage"] == 0.0 and untouched["plate_coverage"] == 0.0
    assert untouched["false_obscured_area"] == 0.0 and untouched["extra_obscured_area"] == 0.0

    faces_filled = tmp_path / "faces.mp4"
    refill(clip, faces_filled, truth, {"face"})
    found = measure(clip, faces_filled, truth).summary()
    assert found["face_coverage"] > 0.97  # encoding may blur a filled edge a little
    assert found["plate_coverage"] == 0.0
    assert found["false_obscured_area"] == 0.0
    assert found["extra_obscured_area"] < 0.002
    assert set(found["by_source"]) == {"photo", "lfw"}


def test_coverage_of_a_window_that_starts_later_in_the_clip(tmp_path: Path) -> None:
    clip = generate(ClipSpec("tiny", 320, 180, 2.0), tmp_path)
    truth = json.loads((tmp_path / "tiny.json").read_text())["truth"]
    trimmed = tmp_path / "trimmed.mp4"
    refill(clip, trimmed, truth, {"face"}, skip=50)

    aligned = measure(clip, trimmed, truth, skip=50).summary()
    assert aligned["frames"] == 10
    assert aligned["face_coverage"] > 0.97
    assert aligned["plate_coverage"] == 0.0

    # Compared from the original's first frame instead, the faces filled land on empty frames.
    misaligned = measure(clip, trimmed, truth).summary()
    assert misaligned["face_coverage"] is None
    assert misaligned["false_obscured_area"] > 0.005


def test_daylight_sensor_noise_has_the_sigma_asked_for() -> None:
    clean, noisy = ClipSpec("clean", 320, 180, 1.0), ClipSpec("noisy", 320, 180, 1.0, noise=2.0)
    rng = np.random.default_rng(3)
    backdrop = background(320, 180, rng)
    actors = cast(clean, rng)
    plain, _ = render(clean, actors, backdrop, 50, rng)
    grainy, truth = render(noisy, actors, backdrop, 50, rng)
    difference = grainy.astype(np.int16) - plain.astype(np.int16)
    # The same scene with only the grain added: sigma 2, truncated to whole grey levels (1.64).
    assert truth and 1.55 < float(difference.std()) < 1.75
    assert abs(float(difference.mean())) < 0.1


def test_a_capped_clip_is_the_same_file_every_time_it_is_generated(tmp_path: Path) -> None:
    # Figures measured on a camera-rate clip compare across runs and hosts only if the clip is
    # the same; with x264's default threads this one came out as four files in four tries.
    spec = ClipSpec("capped", 640, 360, 2.0, low_light=True, max_kbps=1000)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert generate(spec, first).read_bytes() == generate(spec, second).read_bytes()
    # A cached clip is used again only if it was generated from the same spec, the same way.
    assert is_current(spec, first)
    assert not is_current(dataclasses.replace(spec, max_kbps=None), first)
    assert not is_current(spec, tmp_path)


def test_the_porch_visitor_walks_up_and_stops_while_others_pass() -> None:
    spec = ClipSpec("porch", 1280, 720, 12.0, scene="porch")
    rng = np.random.default_rng(3)
    actors = cast(spec, rng)
    backdrop = background(1280, 720, rng)

    def faces(index: int) -> dict[int, list[int]]:
        _, truth = render(spec, actors, backdrop, index, rng)
        return {r["size"]: r["box"] for r in truth if r["kind"] == "face"}  # type: ignore[misc]

    assert not render(spec, actors, backdrop, 44, rng)[1]  # empty before 1.5 s
    arriving, later, still_later = faces(45), faces(120), faces(300)
    assert set(arriving) == {140, 64, 24, 32}
    visitor = [box[0] for box in (arriving[140], later[140], still_later[140])]
    assert visitor[0] < 100 < visitor[1] < visitor[2]  # walks in from the left
    assert faces(290)[140] == still_later[140]  # and stands at the door
    assert arriving[24] == still_later[24]  # across the street, standing
    assert later[32] != still_later[32]  # walking past all the time


def test_the_model_profile_reports_per_operator_time_and_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.redaction.model_profile import main

    monkeypatch.chdir(tmp_path)
    assert main(["--size", "96x64", "--runs", "2", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("CenterFace at 96x64, one thread:")
    assert lines[1].split()[0] == "Conv"  # nearly all of a pass is convolution
    assert len([line for line in lines if "_nchwc" in line or "->" in line]) == 3
    assert list(tmp_path.iterdir()) == []  # onnxruntime's profile went to a temporary folder
