"""Coverage figures: compare output pixels with input pixels inside the ground-truth boxes."""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

FILL_MAX = 28  # luma at or below this in the output counts as filled (solid black)
VISIBLE_MIN = 40  # only input pixels brighter than this can show whether they were filled
COVERED = 0.9  # a face-frame counts as obscured when this share of its visible pixels is filled
# False obscuring is measured on frames with nothing to hide this many frames either side, so
# that boxes deliberately carried from a neighbouring detection frame do not count as false.
# On frames with faces or plates, "extra" obscuring is the share of the frame filled outside
# every ground-truth box: the price of covering heads and motion generously.
QUIET = 10

Gray = npt.NDArray[np.uint8]


@dataclass
class Tally:
    """Counts for one group of ground-truth regions."""

    total: int = 0
    covered: int = 0

    def add(self, ok: bool) -> None:
        self.total += 1
        self.covered += ok

    @property
    def share(self) -> float | None:
        return self.covered / self.total if self.total else None


@dataclass
class Coverage:
    """Face and plate coverage plus false obscuring on frames without any faces or plates."""

    faces: Tally = field(default_factory=Tally)
    faces_by_size: dict[str, Tally] = field(default_factory=dict)
    faces_by_source: dict[str, Tally] = field(default_factory=dict)
    plates: Tally = field(default_factory=Tally)
    false_area: list[float] = field(default_factory=list)
    extra_area: list[float] = field(default_factory=list)
    frames: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "face_coverage": self.faces.share,
            "face_frames": self.faces.total,
            "by_size": {k: v.share for k, v in sorted(self.faces_by_size.items())},
            "by_source": {k: v.share for k, v in sorted(self.faces_by_source.items())},
            "plate_coverage": self.plates.share,
            "false_obscured_area": float(np.mean(self.false_area)) if self.false_area else None,
            "extra_obscured_area": float(np.mean(self.extra_area)) if self.extra_area else None,
            "frames": self.frames,
        }


def percent(value: float | None, digits: int = 1) -> str:
    """A share as a table cell: "99.5 %", or "n/a" when nothing was there to count."""
    return "n/a" if value is None else f"{100 * value:.{digits}f} %"


def _luma(path: Path) -> Iterator[Gray]:
    with av.open(str(path)) as clip:
        for frame in clip.decode(video=0):
            yield np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)


def _bucket(size: int, height: int) -> str:
    scaled = size * 720 / height  # sizes as they would be at 720p
    return "24-47" if scaled < 48 else "48-95" if scaled < 96 else "96-200"


def measure(
    original: Path, redacted: Path, truth: list[list[dict[str, Any]]], skip: int = 0
) -> Coverage:
    """Frame-by-frame comparison; the redacted clip has the original's frames from frame
    `skip` on (a window trimmed at its start), `truth` is the original's."""
    result = Coverage()
    originals = itertools.islice(_luma(original), skip, None)
    for offset, (before, after) in enumerate(zip(originals, _luma(redacted), strict=False)):
        index = skip + offset
        result.frames += 1
        # deface (through imageio) pads frames to a multiple of 16 at the bottom and right.
        filled = after[: before.shape[0], : before.shape[1]] <= FILL_MAX
        visible = before > VISIBLE_MIN
        regions = truth[index] if index < len(truth) else []
        nearby = truth[max(0, index - QUIET) : index + QUIET + 1]
        if not any(nearby):  # no face or plate within a third of a second either way
            result.false_area.append(float((filled & visible).mean()))
            continue
        if not regions:
            continue
        outside = np.ones(before.shape, dtype=bool)
        for region in regions:
            x0, y0, x1, y1 = region["box"]
            outside[max(0, y0) : y1, max(0, x0) : x1] = False
        result.extra_area.append(float((filled & visible & outside).mean()))
        height = before.shape[0]
        for region in regions:
            x0, y0, x1, y1 = region["box"]
            seen = visible[y0:y1, x0:x1]
            if seen.sum() < 0.25 * seen.size:
                continue  # too dark to tell
            share = float((filled[y0:y1, x0:x1] & seen).sum() / seen.sum())
            ok = share >= COVERED
            if region["kind"] == "face":
                result.faces.add(ok)
                key = _bucket(int(region["size"]), height)
                result.faces_by_size.setdefault(key, Tally()).add(ok)
                source = str(region.get("source", "photo"))
                result.faces_by_source.setdefault(source, Tally()).add(ok)
            else:
                result.plates.add(ok)
    return result
