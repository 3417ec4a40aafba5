"""COLMAP sparse models (``sparse/0`` as text or binary) through pycolmap.

Camera models map to :class:`~gscpr.camera.Camera`: SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL (k -> k1),
RADIAL (k1, k2) and OPENCV (k1, k2, p1, p2); COLMAP's principal point is in the continuous convention.
Poses are COLMAP's ``cam_from_world``, which is already world-to-camera in OpenCV axes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..geometry import check_pose
from .frame import DatasetError, Frame
from .ngp import holdout_split

__all__ = ["colmap_camera", "find_sparse_model", "load_colmap", "load_colmap_points"]

MODEL_FILES = ("cameras", "images", "points3D")


def find_sparse_model(root: str | Path) -> Path:
    """The model folder: ``root`` itself, ``root/sparse/0`` or ``root/sparse``."""
    root = Path(root)
    for d in (root, root / "sparse" / "0", root / "sparse"):
        if any((d / f"cameras{ext}").is_file() for ext in (".bin", ".txt")):
            return d
    raise DatasetError(f"{root}: no COLMAP model (looked for cameras.bin/.txt in {root}, sparse/0 and sparse)")


def _read(root: str | Path):
    import pycolmap

    model = find_sparse_model(root)
    for name in MODEL_FILES:
        if not any((model / f"{name}{ext}").is_file() for ext in (".bin", ".txt")):
            raise DatasetError(f"{model}: missing {name}.bin / {name}.txt; the COLMAP model is incomplete")
    try:
        return model, pycolmap.Reconstruction(str(model))
    except Exception as e:  # pycolmap raises RuntimeError/ValueError with C++ messages
        raise DatasetError(f"{model}: cannot read the COLMAP model ({e})") from None


def colmap_camera(cam, where: str = "") -> Camera:
    """A pycolmap camera as a :class:`Camera` (pixel-index convention)."""
    name, p = cam.model.name, [float(v) for v in cam.params]
    if name == "SIMPLE_PINHOLE":
        fx = fy = p[0]
        cx, cy, dist = p[1], p[2], ()
    elif name == "PINHOLE":
        fx, fy, cx, cy, dist = *p[:4], ()
    elif name == "SIMPLE_RADIAL":
        fx = fy = p[0]
        cx, cy, dist = p[1], p[2], (p[3], 0.0, 0.0, 0.0)
    elif name == "RADIAL":
        fx = fy = p[0]
        cx, cy, dist = p[1], p[2], (p[3], p[4], 0.0, 0.0)
    elif name == "OPENCV":
        fx, fy, cx, cy = p[:4]
        dist = tuple(p[4:8])
    else:
        raise DatasetError(f"{where}: COLMAP camera model {name} is not supported (use undistorted images: PINHOLE)")
    return Camera.from_continuous(cam.width, cam.height, fx, fy, cx, cy, dist if any(dist) else ())


def load_colmap(
    root: str | Path, images_dir: str = "images", split: str | None = None, test_every: int | None = None
) -> list[Frame]:
    """Registered images of a COLMAP model, sorted by name; images are looked up in ``<root>/<images_dir>``.

    ``root`` is the scene folder (with ``sparse/0``) or the model folder itself.
    """
    model, rec = _read(root)
    scene = Path(root)
    frames = []
    for image in sorted(rec.images.values(), key=lambda im: im.name):
        cam_from_world = image.cam_from_world() if callable(image.cam_from_world) else image.cam_from_world
        pose = np.eye(4)
        pose[:3, :4] = cam_from_world.matrix()
        check_pose(pose, what=f"{model}: pose of {image.name}")
        cam = colmap_camera(rec.cameras[image.camera_id], where=str(model))
        frames.append(Frame(image.name, scene / images_dir / image.name, cam, pose, split))
    if not frames:
        raise DatasetError(f"{model}: the model has no registered images")
    return holdout_split(frames, split, test_every)


def load_colmap_points(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The model's 3D points: ``xyz [N, 3] float64`` and ``rgb [N, 3] uint8`` (to initialise a 3DGS), sorted
    by point id. Read from ``points3D.bin`` / ``.txt`` directly (COLMAP's documented layout), so that training
    needs no pycolmap."""
    model = find_sparse_model(root)
    points: dict[int, tuple] = {}
    try:
        if (model / "points3D.bin").is_file():
            data = (model / "points3D.bin").read_bytes()
            (n,), off = struct.unpack_from("<Q", data), 8
            for _ in range(n):
                pid, x, y, z, r, g, b, _err, track = struct.unpack_from("<Q3d3BdQ", data, off)
                points[pid] = (x, y, z, r, g, b)
                off += 51 + 8 * track  # the fixed part, then (image id, point2D index) int32 pairs
        elif (model / "points3D.txt").is_file():
            for line in (model / "points3D.txt").read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    v = line.split()
                    points[int(v[0])] = (*map(float, v[1:4]), *map(int, v[4:7]))
        else:
            raise DatasetError(f"{model}: missing points3D.bin / points3D.txt")
    except (struct.error, ValueError, IndexError) as e:
        raise DatasetError(f"{model}: corrupt points3D file ({e})") from None
    rows = np.array([points[k] for k in sorted(points)], dtype=np.float64).reshape(-1, 6)
    return rows[:, :3], rows[:, 3:].astype(np.uint8)
