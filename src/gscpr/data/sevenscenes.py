"""Microsoft 7-Scenes: the ACE layout that GS-CPR reads, and the original download layout.

ACE layout (``gscpr setup 7scenes --poses pgt``): ``datasets/pgt_7scenes_<scene>/{train,test}/{rgb,poses,
calibration}``, names ``seq-01-frame-000000.color.png``, 4x4 camera-to-world poses, one focal per image.

Original layout: ``<scene>/seq-XX/frame-NNNNNN.{color.png,pose.txt}`` with ``TrainSplit.txt`` /
``TestSplit.txt`` listing ``sequenceN``; poses are the KinectFusion camera-to-world of the *depth* sensor,
and the RGB camera's nominal focal length is 525 at 640x480 (ACE's value).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..camera import Camera
from ..geometry import c2w_to_w2c
from ..poses import PoseFileError, read_matrix_pose
from .ace import image_size, read_ace_split
from .frame import DatasetError, Frame

__all__ = ["NOMINAL_FOCAL", "SCENES", "load_7scenes", "load_7scenes_original", "scene_dir"]

SCENES = ("chess", "fire", "heads", "office", "pumpkin", "redkitchen", "stairs")
NOMINAL_FOCAL = 525.0


def scene_dir(datasets_root: str | Path, scene: str, poses: str = "pgt") -> Path:
    """``<root>/pgt_7scenes_<scene>`` (or ``7scenes_<scene>`` for the original/calibrated poses)."""
    if scene not in SCENES:
        raise DatasetError(f"unknown 7-Scenes scene {scene!r}; expected one of {', '.join(SCENES)}")
    return Path(datasets_root) / (f"pgt_7scenes_{scene}" if poses == "pgt" else f"7scenes_{scene}")


def load_7scenes(root: str | Path, split: str = "test") -> list[Frame]:
    """Frames of an ACE-layout 7-Scenes scene folder (640x480 images, per-image focal)."""
    return read_ace_split(root, split, image_size_hint=None)


def read_split_file(path: Path) -> list[str]:
    """``sequence1`` lines (CRLF or LF) -> ``["seq-01", ...]``."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such split file")
    seqs = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        m = re.fullmatch(r"sequence(\d+)", line)
        if m is None:
            raise DatasetError(f"{path}:{lineno}: expected 'sequenceN', got {line!r}")
        seqs.append(f"seq-{int(m.group(1)):02d}")
    return seqs


def load_7scenes_original(root: str | Path, split: str = "test", focal: float = NOMINAL_FOCAL) -> list[Frame]:
    """Frames of a scene in the original download layout (``TestSplit.txt``, ``seq-XX/frame-*``).

    Names follow the ACE layout (``seq-01-frame-000000.color.png``) so they match the estimators' files.
    Images may be ``.png`` (the release) or ``.jpg`` (recompressed copies such as kapture's sample).
    """
    root = Path(root)
    split_file = root / {"test": "TestSplit.txt", "train": "TrainSplit.txt"}.get(split, "")
    if split not in ("test", "train"):
        raise DatasetError(f"7-Scenes has splits 'train' and 'test', not {split!r}")
    frames = []
    for seq in read_split_file(split_file):
        folder = root / seq
        if not folder.is_dir():
            raise DatasetError(f"{folder}: sequence listed in {split_file.name} is missing")
        for img in sorted(folder.glob("frame-*.color.*")):
            base = img.name.split(".")[0]
            pose_file = folder / f"{base}.pose.txt"
            try:
                pose = c2w_to_w2c(read_matrix_pose(pose_file))
            except PoseFileError as e:
                raise DatasetError(str(e)) from None
            w, h = image_size(img)
            cam = Camera.centered(w, h, focal * w / 640.0)
            frames.append(Frame(f"{seq}-{img.name}", img, cam, pose, split, {"original_name": f"{seq}/{img.name}"}))
    if not frames:
        raise DatasetError(f"{root}: no frames in the {split} split")
    return frames
