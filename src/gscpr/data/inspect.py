"""``gscpr inspect PATH``: load any supported dataset folder and summarise what gscpr sees in it."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from ..geometry import camera_center
from . import FORMATS, DatasetError, detect_format, load_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="dataset folder")
    parser.add_argument("--split", default="test", help="train, test or val; 'all' for every frame where possible")
    parser.add_argument("--kind", default="auto", choices=["auto", *FORMATS])


def run(args: argparse.Namespace) -> int:
    split = None if args.split == "all" else args.split
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kind = detect_format(args.path, split or "test") if args.kind == "auto" else args.kind
            frames = load_dataset(args.path, split, kind)
    except DatasetError as e:
        print(f"gscpr inspect: error: {e}", file=sys.stderr)
        return 2
    sizes = Counter(f"{f.camera.width}x{f.camera.height}" for f in frames)
    focals = np.array([f.camera.fx for f in frames])
    posed = [f for f in frames if f.pose is not None]
    print(f"{args.path}: {kind} dataset, split {args.split}")
    print(f"  frames: {len(frames)} ({len(posed)} with poses)")
    print(f"  image sizes: {', '.join(f'{s} ({n})' for s, n in sizes.most_common())}")
    print(f"  focal: {focals.min():.2f} - {focals.max():.2f} px")
    if any(f.camera.has_distortion for f in frames):
        print(f"  distortion: {frames[0].camera.dist} (first frame)")
    if posed:
        c = camera_center(np.stack([f.pose for f in posed]))
        print(f"  camera centres: min {np.round(c.min(0), 3).tolist()} max {np.round(c.max(0), 3).tolist()}")
    missing = [f for f in frames if not Path(f.image_path).is_file()]
    if missing:
        print(f"  missing images: {len(missing)} (first: {missing[0].image_path})")
    for w in caught:
        print(f"  note: {w.message}")
    print(f"  first: {frames[0].name} -> {frames[0].image_path}")
    return 0
