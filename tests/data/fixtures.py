"""Generators for small datasets in the real on-disk layouts."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from gscpr.geometry import invert_pose, make_pose, qvec_to_rotmat
from gscpr.poses import write_matrix_pose


def random_pose(rng: np.random.Generator) -> np.ndarray:
    return make_pose(qvec_to_rotmat(rng.normal(size=4)), rng.normal(size=3))


def write_image(path: Path, width: int, height: int, channels: int = 3, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.full((height, width, channels), value, dtype=np.uint8))


def make_ace_scene(
    root: Path,
    names: list[str],
    focal: float | list[float],
    size=(64, 48),
    seed=0,
    pose_suffix=".pose.txt",
    calib_suffix=".calibration.txt",
    split="test",
) -> dict[str, np.ndarray]:
    """An ACE-layout split with random poses; returns ``{name: w2c}``."""
    rng = np.random.default_rng(seed)
    poses = {}
    for i, name in enumerate(names):
        base = name.split(".")[0]
        write_image(root / split / "rgb" / name, *size)
        poses[name] = random_pose(rng)
        (root / split / "poses").mkdir(parents=True, exist_ok=True)
        write_matrix_pose(root / split / "poses" / f"{base}{pose_suffix}", invert_pose(poses[name]))
        (root / split / "calibration").mkdir(parents=True, exist_ok=True)
        f = focal[i] if isinstance(focal, list) else focal
        (root / split / "calibration" / f"{base}{calib_suffix}").write_text(str(f))
    return poses
