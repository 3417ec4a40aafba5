"""NeRF-synthetic (Blender) scenes: ``transforms_{train,val,test}.json``.

Each file has ``camera_angle_x`` (horizontal field of view) and frames with ``file_path`` (relative, without
extension, e.g. ``./test/r_0``) and ``transform_matrix`` (OpenGL camera-to-world). Images are RGBA PNGs: load
them with :func:`gscpr.data.images.load_rgb` and the background of your choice. Frames whose image is missing
are skipped and counted (``skipped`` in each frame's meta, and a warning).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..geometry import opengl_c2w_to_opencv_w2c
from ..text import plural
from .ace import image_size
from .frame import DatasetError, Frame

__all__ = ["load_blender", "read_transforms", "resolve_image"]


def read_transforms(path: Path) -> dict:
    """A transforms JSON file, with a clear error naming it."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise DatasetError(f"{path}: expected an object with a 'frames' list")
    return data


def resolve_image(root: Path, file_path: str) -> Path | None:
    """The image a frame's ``file_path`` names, trying ``.png`` when it has no extension; None if absent.
    Backslashes are folder separators (files written on Windows), never part of a name."""
    p = root / str(file_path).replace("\\", "/")
    for candidate in (p, p.with_name(p.name + ".png")) if not p.suffix else (p,):
        if candidate.is_file():
            return candidate
    return None


def existing_frames(path: Path, data: dict, root: Path) -> tuple[list[tuple[int, dict, Path]], int]:
    """``(index, frame, image path)`` of the listed frames whose image exists, and how many were skipped.

    Skipped frames are reported in a warning; a file none of whose images exist, or two frames of one image, is
    an error.
    """
    found, skipped, first = [], 0, {}
    for i, fr in enumerate(data["frames"]):
        if not isinstance(fr, dict) or "file_path" not in fr or "transform_matrix" not in fr:
            raise DatasetError(f"{path}: frame {i} lacks file_path or transform_matrix")
        img = resolve_image(root, fr["file_path"])
        if img is None:
            skipped += 1
            continue
        key = img.resolve()
        if key in first:  # two poses for one image: which is right cannot be told
            raise DatasetError(f"{path}: frames {first[key]} and {i} are both image {img} "
                               f"({data['frames'][first[key]]['file_path']!r}, {fr['file_path']!r})")  # fmt: skip
        first[key] = i
        found.append((i, fr, img))
    if skipped:
        n = len(data["frames"])
        warnings.warn(f"{path}: skipped {skipped} of {plural(n, 'frame')} whose image is missing", stacklevel=3)
    if not found:
        raise DatasetError(f"{path}: none of the {len(data['frames'])} listed images exist")
    return found, skipped


def frame_pose(path: Path, index: int, matrix) -> np.ndarray:
    try:
        return opengl_c2w_to_opencv_w2c(np.asarray(matrix, dtype=np.float64))
    except (ValueError, TypeError) as e:
        raise DatasetError(f"{path}: frame {index}: bad transform_matrix ({e})") from None


def _size_or_none(path: Path) -> tuple[int, int] | None:
    try:
        return image_size(path)
    except DatasetError:
        return None


def load_blender(root: str | Path, split: str = "test") -> list[Frame]:
    """Frames of ``<root>/<split>``'s ``transforms_<split>.json``; each camera takes its own image's size (the
    focal from ``camera_angle_x`` and that width), principal point at the centre, square pixels."""
    root = Path(root)
    path = root / f"transforms_{split}.json"
    data = read_transforms(path)
    if "camera_angle_x" not in data:
        raise DatasetError(f"{path}: missing camera_angle_x")
    try:
        angle = float(data["camera_angle_x"])
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: camera_angle_x is not a number: {data['camera_angle_x']!r}") from None
    if not 0 < angle < math.pi:
        raise DatasetError(f"{path}: camera_angle_x must be an angle in (0, pi) radians, got {angle}")
    tan_half = math.tan(0.5 * angle)
    found, skipped = existing_frames(path, data, root)
    sizes = [_size_or_none(img) for _, _, img in found]
    readable = [size for size in sizes if size is not None]
    if not readable:
        image_size(found[0][2])  # raises, naming the file
    frames = []
    for (i, fr, img), size in zip(found, sizes, strict=True):
        # An unreadable image takes another's size: the query fails when its image is read (one bad query never
        # stops a run), not the whole folder here.
        width, height = size or readable[0]
        cam = Camera.centered(width, height, 0.5 * width / tan_half)
        frames.append(
            Frame(img.relative_to(root).as_posix(), img, cam, frame_pose(path, i, fr["transform_matrix"]), split)
        )
    for f in frames:
        f.meta.update(skipped=skipped, rgba=True)
    return frames
