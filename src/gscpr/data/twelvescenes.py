"""Stanford 12-Scenes: the ACE layout that GS-CPR reads, and the original download layout.

ACE layout (``gscpr setup 12scenes --poses pgt``): ``datasets/pgt_12scenes_<apt>_<scene>/{train,test}/{rgb,
poses,calibration}``, names ``frame-000000.color.jpg``, 1296x968 images.

Original layout: ``<apt>/<scene>/data/frame-NNNNNN.{color.jpg,pose.txt}`` (camera-to-world; frames where
tracking was lost hold ``-inf``), ``info.txt`` (``m_colorWidth = 1296``, ``m_calibrationColorIntrinsic =
fx 0 cx 0 0 fy cy 0 ...``) and ``split.txt`` (``sequence0 [frames=357] ...``: the first 357 frames are test).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from ..camera import Camera
from ..geometry import c2w_to_w2c
from ..poses import PoseFileError, read_matrix_pose
from .ace import read_ace_split
from .frame import DatasetError, Frame

__all__ = ["SCENES", "load_12scenes", "load_12scenes_original", "read_info", "read_split", "scene_dir"]

SCENES = (
    "apt1_kitchen", "apt1_living", "apt2_bed", "apt2_kitchen", "apt2_living", "apt2_luke",
    "office1_gates362", "office1_gates381", "office1_lounge", "office1_manolis", "office2_5a", "office2_5b",
)  # fmt: skip


def scene_dir(datasets_root: str | Path, scene: str, poses: str = "pgt") -> Path:
    """``<root>/pgt_12scenes_<apt>_<scene>`` (or ``12scenes_...`` for the original poses)."""
    if scene not in SCENES:
        raise DatasetError(f"unknown 12-Scenes scene {scene!r}; expected one of {', '.join(SCENES)}")
    return Path(datasets_root) / (f"pgt_12scenes_{scene}" if poses == "pgt" else f"12scenes_{scene}")


def load_12scenes(root: str | Path, split: str = "test") -> list[Frame]:
    """Frames of an ACE-layout 12-Scenes scene folder."""
    return read_ace_split(root, split)


def read_info(path: Path) -> dict:
    """``info.txt`` -> ``{"width", "height", "fx", "fy", "cx", "cy"}`` (colour camera), parsed by key."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            values[k.strip()] = v.split()
    try:
        K = [float(v) for v in values["m_calibrationColorIntrinsic"]]
        return {
            "width": int(values["m_colorWidth"][0]),
            "height": int(values["m_colorHeight"][0]),
            "fx": K[0],
            "fy": K[5],
            "cx": K[2],
            "cy": K[6],
        }
    except (KeyError, IndexError, ValueError) as e:
        raise DatasetError(f"{path}: missing or malformed colour calibration ({e!r})") from None


def read_split(path: Path) -> int:
    """Number of test frames from ``split.txt`` (its first line: ``sequence0 [frames=357] ...``)."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    m = re.search(r"\[frames=(\d+)\]", path.read_text(encoding="utf-8"))
    if m is None:
        raise DatasetError(f"{path}: expected '[frames=N]' on the first line")
    return int(m.group(1))


def load_12scenes_original(scene_root: str | Path, split: str = "test") -> list[Frame]:
    """Frames of ``<apt>/<scene>`` in the original layout; frames with invalid (inf) poses are skipped.

    Names follow the ACE layout (``frame-000000.color.jpg``); the number skipped is in each frame's
    ``meta["skipped_invalid"]`` and reported as a warning.
    """
    root = Path(scene_root)
    if split not in ("test", "train"):
        raise DatasetError(f"12-Scenes has splits 'train' and 'test', not {split!r}")
    info = read_info(root / "info.txt")
    n_test = read_split(root / "split.txt")
    cam = Camera.from_continuous(info["width"], info["height"], info["fx"], info["fy"], info["cx"], info["cy"])
    images = sorted((root / "data").glob("frame-*.color.jpg"))
    if not images:
        raise DatasetError(f"{root / 'data'}: no frame-*.color.jpg images")
    chosen = images[:n_test] if split == "test" else images[n_test:]
    frames, skipped = [], 0
    for img in chosen:
        pose_file = img.with_name(img.name.split(".")[0] + ".pose.txt")
        try:
            pose = c2w_to_w2c(read_matrix_pose(pose_file))
        except PoseFileError as e:
            if "NaN or infinite" in str(e):
                skipped += 1  # lost tracking: the dataset marks these frames with inf poses
                continue
            raise DatasetError(str(e)) from None
        frames.append(Frame(img.name, img, cam, pose, split))
    if skipped:
        warnings.warn(f"{root}: skipped {skipped} {split} frame(s) with invalid (inf) poses", stacklevel=2)
    for f in frames:
        f.meta["skipped_invalid"] = skipped
    return frames
