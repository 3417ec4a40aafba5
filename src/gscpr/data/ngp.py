"""instant-ngp / nerfstudio ``transforms.json``: real captures posed by COLMAP (``colmap2nerf.py``,
``ns-process-data``).

Intrinsics ``fl_x, fl_y, cx, cy, w, h`` (or ``camera_angle_x``) and distortion ``k1, k2, k3, k4, p1, p2`` are
global, and any frame may override them; ``cx, cy`` are in the continuous pixel convention (COLMAP's). The
camera model is nerfstudio's ``camera_model`` or instant-ngp's ``is_fisheye``:

* ``OPENCV`` / ``PINHOLE`` / ``SIMPLE_PINHOLE`` / absent: OpenCV's ``(k1, k2, p1, p2, k3)`` (``k4`` has no place
  in it and is refused);
* ``OPENCV_FISHEYE`` or ``is_fisheye: true``: OpenCV's fisheye ``(k1, k2, k3, k4)`` (``p1, p2`` are refused);
* anything else (``EQUIRECTANGULAR``, ``FISHEYE624``, ...) is refused.

Poses are OpenGL camera-to-world (rescaled and recentred by colmap2nerf). Frames whose image is missing are
skipped and counted. ``test_every=N`` holds out every N-th frame (sorted by file name) as the test split.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..camera import Camera, IntrinsicsError
from .blender import existing_frames, frame_pose, read_transforms
from .frame import DatasetError, Frame

__all__ = ["holdout_split", "load_ngp"]

INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k2", "k3", "k4", "p1", "p2", "camera_angle_x",
                  "camera_angle_y", "camera_model", "is_fisheye")  # fmt: skip
#: ``camera_model`` values read, and the distortion model (``gscpr.camera``) each is.
CAMERA_MODELS = {"OPENCV": "opencv", "PINHOLE": "opencv", "SIMPLE_PINHOLE": "opencv", "OPENCV_FISHEYE": "fisheye"}


def holdout_split(items: list, split: str | None, test_every: int | None) -> list:
    """Every ``test_every``-th item (0, N, 2N, ...) is test, the rest train; all items for ``split=None``."""
    if split is None or test_every is None:
        return items
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test' with test_every, got {split!r}")
    return [x for i, x in enumerate(items) if (i % test_every == 0) == (split == "test")]


def _camera(path: Path, index: int, p: dict) -> Camera:
    try:
        w, h = int(p["w"]), int(p["h"])
        fx = float(p["fl_x"]) if "fl_x" in p else 0.5 * w / math.tan(0.5 * float(p["camera_angle_x"]))
        fy = float(p["fl_y"]) if "fl_y" in p else fx
        cx, cy = float(p.get("cx", w / 2)), float(p.get("cy", h / 2))
        model = str(p.get("camera_model", "OPENCV")).upper()
        if model not in CAMERA_MODELS:
            raise DatasetError(f"{path}: frame {index}: camera_model {p['camera_model']!r} is not supported "
                               f"(supported: {', '.join(CAMERA_MODELS)}; is_fisheye for OpenCV's fisheye)")  # fmt: skip
        fisheye = CAMERA_MODELS[model] == "fisheye" or bool(p.get("is_fisheye", False))
        k = {n: float(p.get(n, 0.0)) for n in ("k1", "k2", "k3", "k4", "p1", "p2")}
        stray = [n for n in (("p1", "p2") if fisheye else ("k4",)) if k[n]]
        if stray:
            kind = "fisheye" if fisheye else "non-fisheye (OpenCV)"
            raise DatasetError(
                f"{path}: frame {index}: {', '.join(stray)} set for a {kind} camera, which has no such "
                "coefficient; set camera_model (OPENCV_FISHEYE: k1-k4; OPENCV: k1-k3, p1, p2)"
            )
        if fisheye:
            return Camera.from_continuous(w, h, fx, fy, cx, cy, (k["k1"], k["k2"], k["k3"], k["k4"]), "fisheye")
        dist = (k["k1"], k["k2"], k["p1"], k["p2"]) + ((k["k3"],) if k["k3"] else ())
        return Camera.from_continuous(w, h, fx, fy, cx, cy, dist if any(dist) else ())
    except DatasetError:
        raise
    except KeyError as e:
        raise DatasetError(f"{path}: frame {index}: missing intrinsic {e}") from None
    except (IntrinsicsError, ValueError, TypeError) as e:
        raise DatasetError(f"{path}: frame {index}: bad intrinsics ({e})") from None


def load_ngp(
    root: str | Path, split: str | None = None, test_every: int | None = 8, file_name: str = "transforms.json"
) -> list[Frame]:
    """Frames of an instant-ngp capture, sorted by image path; ``split`` ``"train"``/``"test"``/None (all)."""
    root = Path(root)
    path = root / file_name
    data = read_transforms(path)
    glob = {k: data[k] for k in INTRINSIC_KEYS if k in data}
    found, skipped = existing_frames(path, data, root)
    frames = []
    for i, fr, img in found:
        cam = _camera(path, i, {**glob, **{k: fr[k] for k in INTRINSIC_KEYS if k in fr}})
        meta = {k: fr[k] for k in ("sharpness",) if k in fr}
        pose = frame_pose(path, i, fr["transform_matrix"])
        frames.append(Frame(img.relative_to(root).as_posix(), img, cam, pose, None, meta))
    frames.sort(key=lambda f: f.name)
    for f in frames:
        f.meta["skipped"] = skipped
    chosen = holdout_split(frames, split, test_every)
    for f in chosen:
        f.split = split
    return chosen
