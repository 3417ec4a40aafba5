"""The ACE dataset layout that GS-CPR (and ACE, GLACE, marepo) read for 7-Scenes, 12-Scenes and Cambridge.

::

    <root>/{train,test}/rgb/<base>.<ext>              images
    <root>/{train,test}/poses/<base>.pose.txt         4x4 camera-to-world (7-/12-Scenes)
                             <base>.txt               (Cambridge)
    <root>/{train,test}/calibration/<base>.calibration.txt | <base>.txt
                                                      one focal length in pixels, or a 3x3 K

``<base>`` is the image name without its extension and, where no file of that base exists, without further
dot-suffixes, longest first (:func:`companion_bases`): ``seq-01-frame-000000`` for
``seq-01-frame-000000.color.png``, ``seq1_frame00001`` for ``seq1_frame00001.png``, ``frame.2024.01.01`` for
``frame.2024.01.01.color.png``. A pose or calibration file claimed by two images is an error naming both. The
principal point is the image centre unless the calibration file holds a full K.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..camera import Camera
from ..geometry import c2w_to_w2c
from ..poses import PoseFileError, read_matrix_pose
from . import images
from .frame import DatasetError, Frame

__all__ = ["IMAGE_EXTENSIONS", "companion_bases", "find_companion", "image_size", "read_ace_split", "read_calibration"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image file, reading only its header (:func:`gscpr.data.images.image_size`)."""
    return images.image_size(path)


def companion_bases(name: str) -> list[str]:
    """The bases an image's pose and calibration files may have, longest first: ``a.b.color.png`` ->
    ``["a.b.color", "a.b", "a"]``."""
    parts = name.split(".")[:-1] or [name]
    return [".".join(parts[:k]) for k in range(len(parts), 0, -1)]


def find_companion(folder: Path, base: str | list[str], suffixes: tuple[str, ...]) -> Path | None:
    """The first ``folder/<base><suffix>`` that exists, over the bases in order, then the suffixes."""
    for b in [base] if isinstance(base, str) else base:
        for suffix in suffixes:
            p = folder / f"{b}{suffix}"
            if p.is_file():
                return p
    return None


def read_calibration(path: Path, width: int, height: int) -> Camera:
    """Camera from an ACE calibration file: a single focal length, or a 3x3 K (pixel-index convention)."""
    try:
        values = np.array([float(v) for v in path.read_text(encoding="utf-8").split()])
    except ValueError as e:
        raise DatasetError(f"{path}: calibration is not a number ({e})") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read calibration ({e})") from None
    if values.size == 1:
        if not np.isfinite(values[0]) or values[0] <= 0:
            raise DatasetError(f"{path}: focal length must be a positive number, got {values[0]}")
        return Camera.centered(width, height, float(values[0]))
    if values.size == 9:
        try:
            return Camera.from_K(values.reshape(3, 3), width, height)
        except ValueError as e:
            raise DatasetError(f"{path}: {e}") from None
    raise DatasetError(f"{path}: expected one focal length or a 3x3 matrix, got {values.size} numbers")


def _first_size(images: list[Path]) -> tuple[int, int]:
    """The size of the first readable image (a broken one fails as its query, not the whole split)."""
    for img in images:
        try:
            return image_size(img)
        except DatasetError:
            continue
    return image_size(images[0])  # none readable: raises, naming the first


def read_ace_split(
    root: str | Path, split: str = "test", *, with_poses: bool = True, image_size_hint: tuple[int, int] | None = None
) -> list[Frame]:
    """Frames of ``<root>/<split>`` in the ACE layout, sorted by image name.

    Args:
        root: the scene folder, e.g. ``datasets/pgt_7scenes_chess``.
        split: ``"train"`` or ``"test"``.
        with_poses: read ``poses/`` (a missing pose file is an error); if False, poses are ``None``.
        image_size_hint: ``(width, height)`` of every image; if None, read from the first readable image's
            header (the layout stores one resolution per scene).
    """
    folder = Path(root) / split
    rgb_dir = folder / "rgb"
    if not rgb_dir.is_dir():
        raise DatasetError(f"{rgb_dir}: no such folder; expected the ACE layout <scene>/{split}/rgb")
    images = sorted(p for p in rgb_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise DatasetError(f"{rgb_dir}: no images")
    size = image_size_hint or _first_size(images)
    frames, claimed = [], {}  # companion file -> the image that took it

    def claim(companion: Path, img: Path) -> None:
        if companion in claimed:
            raise DatasetError(f"{companion}: the only match for both {claimed[companion].name} and {img.name}; "
                               "each image needs its own file, named as the image without its extension")  # fmt: skip
        claimed[companion] = img

    for img in images:
        bases = companion_bases(img.name)
        calib = find_companion(folder / "calibration", bases, (".calibration.txt", ".txt"))
        if calib is None:
            raise DatasetError(f"{folder / 'calibration'}: no calibration file for {img.name}")
        claim(calib, img)
        pose = None
        if with_poses:
            pose_file = find_companion(folder / "poses", bases, (".pose.txt", ".txt"))
            if pose_file is None:
                raise DatasetError(f"{folder / 'poses'}: no pose file for {img.name}")
            claim(pose_file, img)
            try:
                pose = c2w_to_w2c(read_matrix_pose(pose_file))
            except PoseFileError as e:
                raise DatasetError(str(e)) from None
        frames.append(Frame(img.name, img, read_calibration(calib, *size), pose, split))
    return frames
