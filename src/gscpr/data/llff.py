"""LLFF forward-facing captures: ``poses_bounds.npy`` and ``images_<factor>/``.

``poses_bounds.npy`` is ``[N, 17]``: a 3x5 matrix per image (camera-to-world rotation columns in LLFF order
[down, right, backwards], the centre, and ``[H, W, focal]`` at full resolution) followed by the near and far
depth bounds. The OpenCV camera-to-world rotation is ``[c1, c0, -c2]``. Row i belongs to the i-th image in
sorted order. Images are used as stored (not undistorted); intrinsics are scaled to their actual size, so any
resolution folder serves: where ``images_<factor>`` is absent (or lacks images), the existing folder of the
nearest factor with one image per pose is used, with a warning; with none, the error lists what exists.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..geometry import c2w_to_w2c
from .ace import IMAGE_EXTENSIONS, image_size
from .frame import DatasetError, Frame
from .ngp import holdout_split

__all__ = ["load_llff"]


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def _images(root: Path, factor: int | None, n_poses: int) -> list[Path]:
    """The images of ``images_<factor>`` (``images`` for None), else of the existing resolution folder of the
    nearest factor that holds one image per pose (warned); a :class:`DatasetError` listing the folders if none."""
    factors = {}  # folder name -> its downsampling factor
    for d in root.iterdir():
        m = re.fullmatch(r"images(?:_([1-9]\d*))?", d.name)
        if m and d.is_dir():
            factors[d.name] = int(m.group(1) or 1)
    images = {name: _list_images(root / name) for name in factors}
    wanted = f"images_{factor}" if factor else "images"
    if len(images.get(wanted, [])) == n_poses:
        return images[wanted]
    usable = [d for d in images if len(images[d]) == n_poses]
    if usable:  # the nearest resolution, in octaves
        best = min(usable, key=lambda d: (abs(math.log2(factors[d] / (factor or 1))), factors[d]))
        state = f"holds {len(images[wanted])} images" if wanted in images else "is absent"
        warnings.warn(f"{root}: {wanted}/ {state}; using {best}/ (intrinsics scaled to its size)", stacklevel=3)
        return images[best]
    found = ", ".join(f"{d}/ ({len(images[d])} images)" for d in sorted(images, key=factors.get)) or "none"
    raise DatasetError(f"{root}: no image folder with one image per pose of poses_bounds.npy ({n_poses}); "
                       f"asked for {wanted}/; image folders: {found}")  # fmt: skip


def load_llff(
    root: str | Path, split: str | None = None, factor: int | None = 8, test_every: int | None = 8
) -> list[Frame]:
    """Frames of an LLFF scene from ``images_<factor>`` (``images`` for ``factor=None``); every
    ``test_every``-th image (0, 8, 16, ...) is test. Near/far bounds go to ``meta["bounds"]``."""
    root = Path(root)
    path = root / "poses_bounds.npy"
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        pb = np.load(path)
    except (ValueError, OSError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None
    if pb.ndim != 2 or pb.shape[1] != 17:
        raise DatasetError(f"{path}: expected an [N, 17] array, got shape {pb.shape}")
    images = _images(root, factor, len(pb))
    frames = []
    for i, (img, row) in enumerate(zip(images, pb, strict=True)):
        m = row[:15].reshape(3, 5)
        h_full, w_full, focal = m[:, 4]
        c2w = np.concatenate([m[:, 1:2], m[:, 0:1], -m[:, 2:3], m[:, 3:4]], axis=1)
        try:
            pose = c2w_to_w2c(c2w, what=f"{path.name} row {i}")
        except ValueError as e:
            raise DatasetError(f"{path}: {e}") from None
        w, h = image_size(img)
        cam = Camera.centered(int(w_full), int(h_full), focal).resized(w, h)
        frames.append(Frame(img.name, img, cam, pose, split, {"bounds": row[15:17].tolist()}))
    return holdout_split(frames, split, test_every)
