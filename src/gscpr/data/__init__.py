"""Datasets: loaders that return :class:`Frame` records, and the setup of the paper's datasets.

=============  =========================================  =====================  ==============================
format         what is detected                           traits                 loader
=============  =========================================  =====================  ==============================
``ace``        ``<dir>/<split>/{rgb,poses,calibration}``                         :func:`read_ace_split`
``cambridge``  ACE layout named ``Cambridge_*``                                  :func:`load_cambridge`
``7scenes``    ``TestSplit.txt`` + ``seq-XX/``                                   :func:`load_7scenes_original`
``12scenes``   ``info.txt`` + ``split.txt`` + ``data/``                          :func:`load_12scenes_original`
``blender``    ``transforms_<split>.json``                white, object-centred  :func:`load_blender`
``ngp``        ``transforms.json``                        every 8th is test      :func:`load_ngp`
``llff``       ``poses_bounds.npy``                       every 8th, SfM points  :func:`load_llff`
``colmap``     ``sparse/0`` (or a model folder)           every 8th, SfM points  :func:`load_colmap`
=============  =========================================  =====================  ==============================

The traits column is :func:`format_traits` (:class:`FormatTraits`, one row per format in ``traits.py``); what it
leaves out is the default: a black background, cameras not centred on an object (the scene's scale is measured from
rendered depth), no SfM points read, and the format's own train / test split rather than every N-th frame held out.
"""

from __future__ import annotations

from pathlib import Path

from ..outputs import not_there
from .ace import read_ace_split
from .blender import load_blender
from .cambridge import load_cambridge, load_cambridge_original
from .colmap import load_colmap, load_colmap_points
from .frame import DatasetError, Frame
from .images import load_rgb
from .llff import load_llff
from .ngp import load_ngp
from .sevenscenes import load_7scenes, load_7scenes_original
from .traits import FORMAT_TRAITS, FormatTraits, format_traits
from .twelvescenes import load_12scenes, load_12scenes_original

__all__ = [
    "ALL",
    "FORMATS",
    "FORMAT_TRAITS",
    "DatasetError",
    "FormatTraits",
    "Frame",
    "detect_format",
    "format_traits",
    "load_12scenes",
    "load_12scenes_original",
    "load_7scenes",
    "load_7scenes_original",
    "load_blender",
    "load_cambridge",
    "load_cambridge_original",
    "load_colmap",
    "load_colmap_points",
    "load_dataset",
    "load_llff",
    "load_ngp",
    "load_other_splits",
    "load_rgb",
    "own_splits",
    "read_ace_split",
]

FORMATS = tuple(FORMAT_TRAITS)  # ("ace", "cambridge", "7scenes", "12scenes", "blender", "ngp", "llff", "colmap")
ALL = "all"  # the split name meaning every frame of every split


def detect_format(path: str | Path, split: str = "test") -> str:
    """The dataset format of a folder (see the module table); raises DatasetError listing what was tried.
    ``split`` is the ACE-layout split folder looked for (``"all"``: ``test`` or ``train``)."""
    p = Path(path)
    if not p.is_dir():
        raise DatasetError(f"{p}: {not_there(p, 'dataset folder', folder=True)}")
    for s in ("test", "train") if split == ALL else (split,):
        if (p / s / "rgb").is_dir() and (p / s / "calibration").is_dir():
            return "cambridge" if p.name.startswith("Cambridge_") else "ace"
    if (p / "TestSplit.txt").is_file() or (p / "TrainSplit.txt").is_file():
        return "7scenes"
    if (p / "info.txt").is_file() and (p / "data").is_dir():
        return "12scenes"
    if (p / "transforms.json").is_file():
        return "ngp"
    if any((p / f"transforms_{s}.json").is_file() for s in ("train", "test", "val")):
        return "blender"
    if (p / "poses_bounds.npy").is_file():
        return "llff"
    if (p / "sparse").is_dir() or (p / "cameras.bin").is_file() or (p / "cameras.txt").is_file():
        return "colmap"
    raise DatasetError(
        f"{p}: unknown dataset format; looked for {split}/rgb + calibration (ACE layout), TestSplit.txt (7-Scenes), "
        "info.txt + data/ (12-Scenes), transforms.json (instant-ngp), transforms_<split>.json (Blender), "
        "poses_bounds.npy (LLFF) and sparse/ (COLMAP)"
    )


def own_splits(path: str | Path, fmt: str) -> list[str]:
    """The splits a folder of a format with its own split (not a hold-out one) has, test first."""
    p = Path(path)
    exists = {
        "ace": lambda s: (p / s / "rgb").is_dir(),
        "cambridge": lambda s: (p / s / "rgb").is_dir(),
        "7scenes": lambda s: (p / f"{s.capitalize()}Split.txt").is_file(),
        "12scenes": lambda s: s != "val",
        "blender": lambda s: (p / f"transforms_{s}.json").is_file(),
    }[fmt]
    return [s for s in ("test", "train", "val") if exists(s)]


def load_other_splits(path: str | Path, kind: str = "auto") -> list[Frame]:
    """The frames ``load_dataset(path, None)`` leaves out: the splits other than ``test`` of a format with its own
    splits; none for a hold-out format (``None`` reads all of it already)."""
    fmt = detect_format(path, ALL) if kind == "auto" else kind
    if format_traits(fmt).holdout_every is not None:
        return []
    return [f for s in own_splits(path, fmt) if s != "test" for f in load_dataset(path, s, fmt)]


def load_dataset(path: str | Path, split: str | None = "test", kind: str = "auto") -> list[Frame]:
    """Frames of any supported dataset folder.

    ``split``: ``"train"`` / ``"test"`` / ``"val"``; hold-out formats (instant-ngp, LLFF, COLMAP) take every N-th
    frame as test (``holdout_every``, 8). ``None``: every frame of a hold-out format, the test split of the
    others. ``"all"``: every frame of every split (names unique across splits, or :class:`DatasetError`).
    """
    fmt = detect_format(path, split or "test") if kind == "auto" else kind
    if fmt not in FORMATS:
        raise DatasetError(f"unknown dataset kind {kind!r}; expected one of {', '.join(FORMATS)} or 'auto'")
    holdout = format_traits(fmt).holdout_every
    if split == ALL and holdout is None:
        splits = own_splits(path, fmt)
        if not splits:
            raise DatasetError(f"{path}: no split of this {fmt} dataset found")
        frames = [f for s in splits for f in load_dataset(path, s, fmt)]
        first: dict[str, Frame] = {}
        for f in frames:
            if f.name in first:
                other = first[f.name]
                raise DatasetError(f"{path}: image name {f.name!r} is in split {other.split} ({other.image_path}) "
                                   f"and {f.split} ({f.image_path}); use --split")  # fmt: skip
            first[f.name] = f
        return frames
    split = None if split == ALL else split
    split_or_test = split or "test"
    test_every = holdout if split else None
    loaders = {
        "ace": lambda: read_ace_split(path, split_or_test),
        "cambridge": lambda: load_cambridge(path, split_or_test),
        "7scenes": lambda: load_7scenes_original(path, split_or_test),
        "12scenes": lambda: load_12scenes_original(path, split_or_test),
        "blender": lambda: load_blender(path, split_or_test),
        "ngp": lambda: load_ngp(path, split, test_every),
        "llff": lambda: load_llff(path, split, test_every=test_every),
        "colmap": lambda: load_colmap(path, split=split, test_every=test_every),
    }
    return loaders[fmt]()
