"""Cambridge Landmarks: the ACE layout, the original full-resolution frames, split files and the NVM model.

ACE layout (``gscpr setup cambridge``): ``datasets/Cambridge_<Scene>/{train,test}/{rgb,poses,calibration}``
with the images resized to height 480 (854x480), names ``seq1_frame00001.png``, focal lengths at that
size. GS-CPR refines at full resolution: the query is the original ``Cambridge_<Scene>/seq1/frame00001.png``
(1920x1080), and its focal is the calibration rescaled by the width ratio ``1920 / 854``. (The original
code multiplies by 2.25 = 1080 / 480 instead, 0.08 % too large since 854 is rounded up from 853.3;
``legacy_focal=True`` reproduces it. Its ``gs_cpr_cam.py`` also lifts and solves every query with one focal,
``focal_length_dict[img_name]`` read after the loop over the names: the last query's in sorted
``seqN/frameM.png`` order, while its renders used each query's own; ``legacy_one_focal=True`` reproduces it.)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..geometry import make_pose, qvec_to_rotmat
from ..poses import PoseFileError, read_cambridge_split
from ..text import plural
from .ace import image_size, read_ace_split
from .frame import DatasetError, Frame

__all__ = ["SCENES", "load_cambridge", "load_cambridge_original", "original_name", "read_nvm_cameras"]

SCENES = ("GreatCourt", "KingsCollege", "OldHospital", "ShopFacade", "StMarysChurch")
LEGACY_FOCAL_FACTOR = 2.25


def original_name(ace_name: str) -> str:
    """``seq1_frame00001.png`` -> ``seq1/frame00001.png`` (the frame's path inside the scene folder)."""
    seq, sep, rest = ace_name.partition("_")
    if not sep:
        raise DatasetError(f"{ace_name!r} is not a Cambridge ACE-layout name (seqN_frameM.png)")
    return f"{seq}/{rest}"


def load_cambridge(
    root: str | Path,
    split: str = "test",
    full_resolution: bool = True,
    legacy_focal: bool = False,
    legacy_one_focal: bool = False,
) -> list[Frame]:
    """Frames of ``Cambridge_<Scene>`` (ACE layout), by default pointing at the full-resolution originals.

    ``Frame.name`` is the ACE name (``seq1_frame00001.png``); ``meta["original_name"]`` is ``seq1/frame00001.png``.
    With ``full_resolution=False`` the 480-high ACE images and their calibration are used as they are.
    ``legacy_focal``: the focal times 2.25 (the original's). ``legacy_one_focal``: every frame takes the focal of
    the last frame in sorted ``seqN/frameM.png`` order (what the original's refinement computes with; renders
    made by its render script, read from disk, still show each query's own).
    """
    root = Path(root)
    frames = read_ace_split(root, split)
    for f in frames:
        f.meta["original_name"] = original_name(f.name)
    if not full_resolution:
        return frames
    out = []
    for f in frames:
        full = root / f.meta["original_name"]
        if not full.is_file():
            raise DatasetError(f"{full}: full-resolution frame missing (pass full_resolution=False for the ACE images)")
        W, H = image_size(full)
        scale = LEGACY_FOCAL_FACTOR if legacy_focal else W / f.camera.width
        cam = Camera.centered(W, H, f.camera.fx * scale)
        out.append(replace(f, image_path=full, camera=cam, meta={**f.meta, "ace_image": str(f.image_path)}))
    if legacy_one_focal and out:
        last = max(out, key=lambda f: f.meta["original_name"]).camera
        out = [replace(f, camera=replace(f.camera, fx=last.fx, fy=last.fy)) for f in out]
    return out


def read_nvm_cameras(path: str | Path) -> dict[str, tuple[float, np.ndarray]]:
    """Cameras of a VisualSfM ``.nvm`` model: ``{image name: (focal in pixels, w2c 4x4)}``.

    Camera lines read ``<name> <focal> <qw> <qx> <qy> <qz> <cx> <cy> <cz> <radial> 0``: a w2c rotation and
    the camera centre. Names are as in the file (Cambridge lists ``seqN/frameM.jpg``).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such NVM file")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0].startswith("NVM_V3"):
        raise DatasetError(f"{path}:1: not an NVM_V3 file")
    i = 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    try:
        n = int(lines[i].split()[0])
    except (IndexError, ValueError):
        raise DatasetError(f"{path}:{i + 1}: expected the number of cameras") from None
    cameras = {}
    for lineno in range(i + 2, i + 2 + n):
        if lineno - 1 >= len(lines):
            raise DatasetError(f"{path}: file ends after {lineno - i - 2} of {plural(n, 'camera')}")
        tok = lines[lineno - 1].split()
        try:
            focal, *rest = (float(v) for v in tok[1:9])
            if len(rest) != 7:
                raise ValueError
        except ValueError:
            raise DatasetError(f"{path}:{lineno}: expected 'name focal qw qx qy qz cx cy cz ...'") from None
        if not np.all(np.isfinite([focal, *rest])) or focal <= 0:
            raise DatasetError(f"{path}:{lineno}: non-finite or non-positive values")
        R = qvec_to_rotmat(rest[:4])
        cameras[tok[0]] = (focal, make_pose(R, -R @ np.array(rest[4:7])))
    return cameras


def load_cambridge_original(root: str | Path, split: str = "test") -> list[Frame]:
    """Frames of an original ``<Scene>`` folder: poses from ``dataset_<split>.txt``, focal from the NVM model.

    Names are the split file's (``seq1/frame00001.png``); the NVM lists the same frames as ``.jpg``.
    """
    root = Path(root)
    try:
        poses = read_cambridge_split(root / f"dataset_{split}.txt")
    except PoseFileError as e:
        raise DatasetError(str(e)) from None
    nvm = {Path(k).with_suffix("").as_posix(): v for k, v in read_nvm_cameras(root / "reconstruction.nvm").items()}
    frames = []
    for name, pose in poses.items():
        img = root / name
        if not img.is_file():
            raise DatasetError(f"{img}: image listed in dataset_{split}.txt is missing")
        key = Path(name).with_suffix("").as_posix()
        if key not in nvm:
            raise DatasetError(f"{root / 'reconstruction.nvm'}: no camera for {name}")
        W, H = image_size(img)
        frames.append(Frame(name, img, Camera.centered(W, H, nvm[key][0]), pose, split))
    return frames
