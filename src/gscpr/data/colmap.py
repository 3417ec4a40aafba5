"""COLMAP sparse models (``sparse/0``, text or binary), read and checked here: no pycolmap needed.

The layouts are COLMAP's documented ones (https://colmap.github.io/format.html):

* ``cameras.txt``: ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]``, one line per camera, as many parameters as the model
  takes (:data:`CAMERA_MODELS`). ``cameras.bin``: ``uint64`` count, then per camera ``int32`` id, ``int32`` model
  id, ``uint64`` width, height and the parameters as ``float64``.
* ``images.txt``: **two lines per image**: ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME``, then its 2D points
  ``X Y POINT3D_ID`` triples (an empty line when it has none). COLMAP reads the line after an image line as its
  points whatever it holds, so a file with one line per image loses every second image: that is refused here,
  naming the line. ``images.bin``: ``uint64`` count, then per image ``int32`` id, ``float64`` qw qx qy qz tx ty
  tz, ``int32`` camera id, the NUL-terminated name, ``uint64`` point count and 24 bytes per point.
* ``points3D``: see :func:`load_colmap_points`.

Camera models map to :class:`~gscpr.camera.Camera` (see :data:`SUPPORTED`): the pinhole, radial and OpenCV models
to the ``opencv`` distortion model, the fisheye ones (OPENCV_FISHEYE, RADIAL_FISHEYE, SIMPLE_RADIAL_FISHEYE,
FISHEYE, SIMPLE_FISHEYE) to ``fisheye``; the others are refused. COLMAP's principal point is in the continuous
convention. Poses are COLMAP's ``cam_from_world``: world-to-camera in OpenCV axes, quaternion w first. Images
whose pose is not finite (not registered) are skipped with a warning.
"""

from __future__ import annotations

import math
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..camera import Camera, IntrinsicsError
from ..geometry import check_pose, qt_to_pose
from ..text import plural
from .frame import DatasetError, Frame
from .ngp import holdout_split

__all__ = ["CAMERA_MODELS", "SUPPORTED", "colmap_camera", "find_sparse_model", "load_colmap", "load_colmap_points"]

#: COLMAP's camera models: model id -> (name, parameter names), as in COLMAP's ``sensor/models.h``.
CAMERA_MODELS: dict[int, tuple[str, tuple[str, ...]]] = {
    0: ("SIMPLE_PINHOLE", ("f", "cx", "cy")),
    1: ("PINHOLE", ("fx", "fy", "cx", "cy")),
    2: ("SIMPLE_RADIAL", ("f", "cx", "cy", "k")),
    3: ("RADIAL", ("f", "cx", "cy", "k1", "k2")),
    4: ("OPENCV", ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2")),
    5: ("OPENCV_FISHEYE", ("fx", "fy", "cx", "cy", "k1", "k2", "k3", "k4")),
    6: ("FULL_OPENCV", ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")),
    7: ("FOV", ("fx", "fy", "cx", "cy", "omega")),
    8: ("SIMPLE_RADIAL_FISHEYE", ("f", "cx", "cy", "k")),
    9: ("RADIAL_FISHEYE", ("f", "cx", "cy", "k1", "k2")),
    10: ("THIN_PRISM_FISHEYE", ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3", "k4", "sx1", "sy1")),
    11: (
        "RAD_TAN_THIN_PRISM_FISHEYE",
        ("fx", "fy", "cx", "cy", "k0", "k1", "k2", "k3", "k4", "k5", "p0", "p1", "s0", "s1", "s2", "s3"),
    ),  # fmt: skip
    12: ("SIMPLE_DIVISION", ("f", "cx", "cy", "k")),
    13: ("DIVISION", ("fx", "fy", "cx", "cy", "k")),
    14: ("SIMPLE_FISHEYE", ("f", "cx", "cy")),
    15: ("FISHEYE", ("fx", "fy", "cx", "cy")),
    16: ("EUCM", ("fx", "fy", "cx", "cy", "alpha", "beta")),
    17: ("EQUIRECTANGULAR", ("w", "h")),
}
_BY_NAME = {name: (model_id, params) for model_id, (name, params) in CAMERA_MODELS.items()}

#: The models read, and the distortion model (``gscpr.camera``) each becomes; checked against pycolmap's
#: projection in the tests.
SUPPORTED = {
    "SIMPLE_PINHOLE": "opencv", "PINHOLE": "opencv", "SIMPLE_RADIAL": "opencv", "RADIAL": "opencv",
    "OPENCV": "opencv", "FULL_OPENCV": "opencv", "SIMPLE_FISHEYE": "fisheye", "FISHEYE": "fisheye",
    "SIMPLE_RADIAL_FISHEYE": "fisheye", "RADIAL_FISHEYE": "fisheye", "OPENCV_FISHEYE": "fisheye",
}  # fmt: skip


@dataclass(frozen=True)
class _Camera:
    model: str
    width: int
    height: int
    params: tuple[float, ...]
    where: str  # file and line (or record) it was read from


@dataclass(frozen=True)
class _Image:
    image_id: int
    qvec: tuple[float, float, float, float]
    tvec: tuple[float, float, float]
    camera_id: int
    name: str
    where: str


def find_sparse_model(root: str | Path) -> Path:
    """The model folder: ``root`` itself, ``root/sparse/0`` or ``root/sparse``."""
    root = Path(root)
    for d in (root, root / "sparse" / "0", root / "sparse"):
        if any((d / f"cameras{ext}").is_file() for ext in (".bin", ".txt")):
            return d
    raise DatasetError(f"{root}: no COLMAP model (looked for cameras.bin/.txt in {root}, sparse/0 and sparse)")


def colmap_camera(model: str, width: int, height: int, params, where: str = "") -> Camera:
    """A COLMAP camera (model name, size, parameters) as a :class:`Camera` (pixel-index convention).
    Raises :class:`DatasetError` naming ``where`` for a model not in :data:`SUPPORTED` or impossible values."""
    if model not in SUPPORTED:
        raise DatasetError(
            f"{where}: COLMAP camera model {model} is not supported (supported: {', '.join(SUPPORTED)}); "
            "undistort the images first (colmap image_undistorter gives PINHOLE)"
        )
    p = dict(zip(_BY_NAME[model][1], map(float, params), strict=True))
    fx, fy = p.get("fx", p.get("f")), p.get("fy", p.get("f"))
    if SUPPORTED[model] == "fisheye":
        dist = tuple(p.get(k, 0.0) for k in ("k1", "k2", "k3", "k4"))
        dist = (p["k"], 0.0, 0.0, 0.0) if "k" in p else dist
    elif "k" in p or "k1" in p:
        dist = (p.get("k", p.get("k1")), p.get("k2", 0.0), p.get("p1", 0.0), p.get("p2", 0.0))
        dist += tuple(p[k] for k in ("k3", "k4", "k5", "k6") if k in p)  # FULL_OPENCV: OpenCV's 8-term order
    else:
        dist = ()
    if SUPPORTED[model] == "opencv" and not any(dist):
        dist = ()  # a pinhole (a fisheye keeps its four coefficients, zero or not)
    try:
        return Camera.from_continuous(width, height, fx, fy, p["cx"], p["cy"], dist, SUPPORTED[model])
    except IntrinsicsError as e:
        raise DatasetError(f"{where}: {e}") from None


# ----------------------------------------------------------------------------- text files
def _data_lines(path: Path):
    """``(line number, stripped line)`` of every line, comments included (images.txt pairs lines by position)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1)]


def _number(path: Path, lineno: int, token: str, what: str, kind=float, finite: bool = True):
    try:
        value = kind(token)
    except ValueError:
        raise DatasetError(f"{path}:{lineno}: {what} is not {'an integer' if kind is int else 'a number'}: "
                           f"{token!r}") from None  # fmt: skip
    if kind is float and finite and not math.isfinite(value):
        raise DatasetError(f"{path}:{lineno}: {what} is not finite: {token!r}")
    return value


def _read_cameras_txt(path: Path) -> dict[int, _Camera]:
    cameras: dict[int, _Camera] = {}
    for lineno, line in _data_lines(path):
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if len(tok) < 4:
            raise DatasetError(f"{path}:{lineno}: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS[], got {line!r}")
        cam_id = _number(path, lineno, tok[0], "CAMERA_ID", int)
        model = tok[1].upper()
        if model not in _BY_NAME:
            raise DatasetError(f"{path}:{lineno}: unknown camera model {tok[1]!r}; COLMAP's are "
                               f"{', '.join(_BY_NAME)}")  # fmt: skip
        names = _BY_NAME[model][1]
        if len(tok) - 4 != len(names):
            raise DatasetError(f"{path}:{lineno}: camera {cam_id} ({model}) has {plural(len(tok) - 4, 'parameter')}, "
                               f"{model} takes {len(names)}: {' '.join(names)}")  # fmt: skip
        width, height = (_number(path, lineno, t, w, int) for t, w in zip(tok[2:4], ("WIDTH", "HEIGHT"), strict=True))
        params = tuple(_number(path, lineno, t, f"parameter {n}") for t, n in zip(tok[4:], names, strict=True))
        if cam_id in cameras:
            raise DatasetError(f"{path}:{lineno}: camera {cam_id} again (first at {cameras[cam_id].where})")
        cameras[cam_id] = _Camera(model, width, height, params, f"{path}:{lineno}")
    return cameras


def _looks_like_image_line(tok: list[str]) -> bool:
    if len(tok) != 10:
        return False
    try:
        int(tok[0]), [float(t) for t in tok[1:8]], int(tok[8])
    except ValueError:
        return False
    return True


def _read_images_txt(path: Path) -> list[_Image]:
    lines, images, i = _data_lines(path), [], 0
    pair = "images.txt takes two lines per image: the image, then its 2D points (an empty line when it has none)"
    while i < len(lines):
        lineno, line = lines[i]
        i += 1
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if len(tok) != 10:
            raise DatasetError(f"{path}:{lineno}: {plural(len(tok), 'field')}; an image line is IMAGE_ID QW QX QY QZ "
                               f"TX TY TZ CAMERA_ID NAME (10 fields, no spaces in NAME)")  # fmt: skip
        image_id = _number(path, lineno, tok[0], "IMAGE_ID", int)
        fields = ("QW", "QX", "QY", "QZ", "TX", "TY", "TZ")
        # not finite: an image without a pose (skipped by load_colmap)
        values = [_number(path, lineno, t, w, finite=False) for t, w in zip(tok[1:8], fields, strict=True)]
        camera_id = _number(path, lineno, tok[8], "CAMERA_ID", int)
        # At the end of the file, an empty points line and none are the same text ("...NAME\n").
        points_no, points = lines[i] if i < len(lines) else (lineno + 1, "")
        i += 1
        ptok = points.split()
        if _looks_like_image_line(ptok):
            raise DatasetError(f"{path}:{points_no}: another image line where the 2D points of image {image_id} "
                               f"(line {lineno}) belong; {pair}")  # fmt: skip
        if len(ptok) % 3:
            raise DatasetError(f"{path}:{points_no}: the 2D points of image {image_id} (line {lineno}) are "
                               f"X Y POINT3D_ID triples, got {plural(len(ptok), 'value')}; {pair}")  # fmt: skip
        for t in ptok:
            _number(path, points_no, t, "a 2D point value")
        images.append(_Image(image_id, tuple(values[:4]), tuple(values[4:]), camera_id, tok[9], f"{path}:{lineno}"))
    return images


# ----------------------------------------------------------------------------- binary files
class _Reader:
    """Little-endian fields of a binary model file, with errors naming the file and the record."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = path.read_bytes()
        except OSError as e:
            raise DatasetError(f"{path}: cannot read ({e})") from None
        self.offset = 0

    def read(self, fmt: str, what: str) -> tuple:
        try:
            values = struct.unpack_from("<" + fmt, self.data, self.offset)
        except struct.error:
            raise DatasetError(f"{self.path}: ends inside {what} (byte {self.offset} of {len(self.data)}); "
                               "truncated or not a COLMAP binary file") from None  # fmt: skip
        self.offset += struct.calcsize("<" + fmt)
        return values

    def name(self, what: str) -> str:
        end = self.data.find(b"\0", self.offset)
        if end < 0:
            raise DatasetError(f"{self.path}: {what}: the name has no terminating NUL byte (truncated file)")
        raw, self.offset = self.data[self.offset : end], end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DatasetError(f"{self.path}: {what}: the name is not UTF-8: {raw!r}") from None

    def done(self, count: int, what: str) -> None:
        if self.offset != len(self.data):
            raise DatasetError(f"{self.path}: {len(self.data) - self.offset} bytes after the {count} {what} the "
                               "header announces; not a COLMAP binary file, or a corrupt one")  # fmt: skip


def _read_cameras_bin(path: Path) -> dict[int, _Camera]:
    r, cameras = _Reader(path), {}
    (count,) = r.read("Q", "the camera count")
    for k in range(count):
        what = f"camera record {k + 1} of {count}"
        cam_id, model_id, width, height = r.read("iiQQ", what)
        if model_id not in CAMERA_MODELS:
            raise DatasetError(f"{path}: {what} (camera {cam_id}): unknown camera model id {model_id}")
        model, names = CAMERA_MODELS[model_id]
        params = r.read(f"{len(names)}d", what)
        if not all(map(math.isfinite, params)):
            raise DatasetError(f"{path}: camera {cam_id}: parameters are not finite: {params}")
        if cam_id in cameras:
            raise DatasetError(f"{path}: camera {cam_id} twice")
        cameras[cam_id] = _Camera(model, width, height, params, f"{path} (camera {cam_id})")
    r.done(count, "cameras")
    return cameras


def _read_images_bin(path: Path) -> list[_Image]:
    r, images = _Reader(path), []
    (count,) = r.read("Q", "the image count")
    for k in range(count):
        what = f"image record {k + 1} of {count}"
        image_id, *values, camera_id = r.read("i7di", what)
        name = r.name(what)
        (n_points,) = r.read("Q", what)
        r.read(f"{24 * n_points}x", f"the 2D points of image {image_id}")
        images.append(_Image(image_id, tuple(values[:4]), tuple(values[4:]), camera_id, name,
                             f"{path} (image {image_id}, {name})"))  # fmt: skip
    r.done(count, "images")
    return images


# ----------------------------------------------------------------------------- the model
def _read_model(root: str | Path) -> tuple[Path, dict[int, _Camera], list[_Image]]:
    model = find_sparse_model(root)
    for ext, read_cameras, read_images in ((".bin", _read_cameras_bin, _read_images_bin),
                                           (".txt", _read_cameras_txt, _read_images_txt)):  # fmt: skip
        if (model / f"cameras{ext}").is_file():  # COLMAP's order: binary first
            if not (model / f"images{ext}").is_file():
                raise DatasetError(f"{model}: missing images{ext} next to cameras{ext}; the COLMAP model is incomplete")
            return model, read_cameras(model / f"cameras{ext}"), read_images(model / f"images{ext}")
    raise AssertionError("find_sparse_model found a cameras file")


def load_colmap(
    root: str | Path, images_dir: str = "images", split: str | None = None, test_every: int | None = None
) -> list[Frame]:
    """Registered images of a COLMAP model, sorted by name; images are looked up in ``<root>/<images_dir>``.

    ``root`` is the scene folder (with ``sparse/0``) or the model folder itself. Raises :class:`DatasetError`
    naming the file and line (or record) of anything malformed: a wrong field or parameter count, a non-number,
    an image without its 2D points line, an unknown camera id, an image id or name used twice.
    """
    model, cameras, images = _read_model(root)
    scene, frames, seen_ids, seen_names, unregistered = Path(root), [], {}, {}, []
    for im in images:
        for seen, key, what in ((seen_ids, im.image_id, "image id"), (seen_names, im.name, "image name")):
            if key in seen:
                raise DatasetError(f"{im.where}: {what} {key!r} again (first at {seen[key]})")
            seen[key] = im.where
        if im.camera_id not in cameras:
            raise DatasetError(f"{im.where}: camera {im.camera_id} is not in {model}'s cameras file")
        if not all(map(math.isfinite, (*im.qvec, *im.tvec))):
            unregistered.append(im.name)
            continue
        if np.linalg.norm(im.qvec) < 1e-8:
            raise DatasetError(f"{im.where}: the quaternion has zero length")
        try:
            pose = check_pose(qt_to_pose(np.array(im.qvec) / np.linalg.norm(im.qvec), np.array(im.tvec)),
                              what=f"pose of {im.name}")  # fmt: skip
        except ValueError as e:
            raise DatasetError(f"{im.where}: {e}") from None
        c = cameras[im.camera_id]
        cam = colmap_camera(c.model, c.width, c.height, c.params, where=c.where)
        frames.append(Frame(im.name, scene / images_dir / im.name, cam, pose, split))
    if unregistered:
        warnings.warn(f"{model}: skipped {len(unregistered)} image(s) without a pose (not registered), e.g. "
                      f"{unregistered[0]}", stacklevel=2)  # fmt: skip
    if not frames:
        raise DatasetError(f"{model}: the model has no registered images")
    frames.sort(key=lambda f: f.name)
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
