"""``gscpr inspect PATH``: load any supported dataset folder and summarise what gscpr sees in it
(:func:`inspect_dataset`)."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry import camera_center
from . import FORMATS, DatasetError, Frame, detect_format, load_dataset

__all__ = ["DatasetSummary", "inspect_dataset"]


@dataclass
class DatasetSummary:
    """What gscpr sees in a dataset folder (:func:`inspect_dataset`)."""

    path: Path
    kind: str
    split: str | None
    frames: list[Frame]
    notes: list[str] = field(default_factory=list)  # warnings the loader gave

    def lines(self) -> list[str]:
        """The summary as ``gscpr inspect`` prints it."""
        frames = self.frames
        sizes = Counter(f"{f.camera.width}x{f.camera.height}" for f in frames)
        focals = np.array([f.camera.fx for f in frames])
        posed = [f for f in frames if f.pose is not None]
        out = [
            f"{self.path}: {self.kind} dataset, split {self.split or 'all'}",
            f"  frames: {len(frames)} ({len(posed)} with poses)",
            f"  image sizes: {', '.join(f'{s} ({n})' for s, n in sizes.most_common())}",
            f"  focal: {focals.min():.2f} - {focals.max():.2f} px",
        ]
        if any(f.camera.has_distortion for f in frames):
            cam = next(f.camera for f in frames if f.camera.has_distortion)
            out.append(f"  distortion: {cam.dist_model} {cam.dist} (first such frame)")
        if posed:
            c = camera_center(np.stack([f.pose for f in posed]))
            out.append(f"  camera centres: min {np.round(c.min(0), 3).tolist()} max {np.round(c.max(0), 3).tolist()}")
        missing = [f for f in frames if not Path(f.image_path).is_file()]
        if missing:
            out.append(f"  missing images: {len(missing)} (first: {missing[0].image_path})")
        out += [f"  note: {n}" for n in self.notes]
        out.append(f"  first: {frames[0].name} -> {frames[0].image_path}")
        return out


def inspect_dataset(path: str | Path, split: str | None = "test", kind: str = "auto") -> DatasetSummary:
    """Load a dataset folder as gscpr would (``split``: see :func:`~gscpr.data.load_dataset`) and
    summarise it; raises :class:`DatasetError` for a folder gscpr cannot read or one without frames."""
    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kind = detect_format(path, split or "test") if kind == "auto" else kind
        frames = load_dataset(path, split, kind)
    if not frames:
        raise DatasetError(f"{path}: no {split or ''} frames".replace("  ", " "))
    return DatasetSummary(path, kind, split, frames, [str(w.message) for w in caught])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="dataset folder")
    parser.add_argument("--split", default="test", help="train, test or val; 'all' for every frame where possible")
    parser.add_argument("--kind", default="auto", choices=["auto", *FORMATS])


def run(args: argparse.Namespace) -> int:
    try:
        summary = inspect_dataset(args.path, args.split, args.kind)
    except DatasetError as e:
        print(f"gscpr inspect: error: {e}", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()))
    return 0
