"""Pinhole cameras: intrinsics, resizing, the pixel-centre convention and the lens distortion models.

Pixel convention
----------------
:class:`Camera` stores intrinsics in the **OpenCV pixel-index convention**: the centre of the
top-left pixel is ``(0, 0)`` and the image spans ``[-0.5, W - 0.5]``. Keypoints from every matcher,
OpenCV and PoseLib use it, so ``K`` can be handed to them as is.

COLMAP, gsplat and the Inria 3DGS rasterizer use the *continuous* convention (top-left pixel centre
at ``(0.5, 0.5)``): ``cx_continuous = cx_index + 0.5``. Convert with :meth:`Camera.from_continuous`
and :meth:`Camera.continuous_principal_point` rather than by hand. A principal point "at the image
centre" is ``((W - 1) / 2, (H - 1) / 2)`` here, ``(W / 2, H / 2)`` in the continuous convention.

Distortion models
-----------------
``dist_model`` says how ``dist`` bends the rays of the pinhole ``K``; renders are always the pinhole's, so
query pixels are undistorted to it (:meth:`Camera.undistort_points`, :meth:`Camera.undistort_image`):

* ``"opencv"``: OpenCV's radial-tangential (Brown-Conrady) model, ``dist = (k1, k2, p1, p2[, k3[, k4, k5, k6]])``
  as ``cv2.undistortPoints`` takes it (COLMAP's SIMPLE_RADIAL, RADIAL, OPENCV, FULL_OPENCV); no ``dist``: a
  pinhole.
* ``"fisheye"``: OpenCV's fisheye (Kannala-Brandt, equidistant) model, ``dist = (k1, k2, k3, k4)``:
  ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)`` with ``theta`` the ray's angle to
  the optical axis and ``r = f theta_d`` (``cv2.fisheye``; COLMAP's OPENCV_FISHEYE, RADIAL_FISHEYE,
  SIMPLE_RADIAL_FISHEYE, FISHEYE; instant-ngp's ``is_fisheye``, nerfstudio's ``OPENCV_FISHEYE``). All-zero
  coefficients are still a fisheye (equidistant), not a pinhole.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

__all__ = ["DIST_MODELS", "Camera", "IntrinsicsError"]

#: Distortion models (see the module docstring) and the numbers of coefficients each takes (as OpenCV does).
DIST_MODELS: dict[str, tuple[int, ...]] = {"opencv": (0, 4, 5, 8, 12, 14), "fisheye": (4,)}


class IntrinsicsError(ValueError):
    """Camera intrinsics that cannot be right (non-positive size or focal, NaN, ...)."""


@dataclass(frozen=True)
class Camera:
    """A pinhole camera, optionally with lens distortion.

    Attributes:
        width, height: image size in pixels.
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in the pixel-index convention (see the module docstring).
        dist: distortion coefficients of ``dist_model``: ``(k1, k2, p1, p2[, k3, ...])`` for ``"opencv"`` (empty
            for none), ``(k1, k2, k3, k4)`` for ``"fisheye"``.
        dist_model: ``"opencv"`` or ``"fisheye"`` (see the module docstring).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    dist: tuple[float, ...] = field(default=())
    dist_model: str = "opencv"

    def __post_init__(self) -> None:
        # Plain Python numbers, whatever came in (numpy scalars print and serialise badly).
        for name in ("fx", "fy", "cx", "cy"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "dist", tuple(float(d) for d in self.dist))
        self.validate()

    def validate(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy, *self.dist)
        if not all(math.isfinite(v) for v in values):
            raise IntrinsicsError(f"camera intrinsics are not finite: {self}")
        if self.dist_model not in DIST_MODELS:
            raise IntrinsicsError(f"unknown distortion model {self.dist_model!r}; expected one of {list(DIST_MODELS)}")
        if len(self.dist) not in DIST_MODELS[self.dist_model]:
            counts = ", ".join(map(str, DIST_MODELS[self.dist_model]))
            raise IntrinsicsError(f"{self.dist_model} distortion takes {counts} coefficients, got {len(self.dist)}")
        if self.width <= 0 or self.height <= 0 or int(self.width) != self.width or int(self.height) != self.height:
            raise IntrinsicsError(f"image size must be positive integers, got {self.width}x{self.height}")
        if self.fx <= 0 or self.fy <= 0:
            raise IntrinsicsError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        # A principal point far outside the image is a unit or convention mix-up, not a real camera.
        if not (-self.width <= self.cx <= 2 * self.width and -self.height <= self.cy <= 2 * self.height):
            raise IntrinsicsError(
                f"principal point ({self.cx}, {self.cy}) is far outside the {self.width}x{self.height} image"
            )

    # ---------------------------------------------------------------- constructors
    @classmethod
    def centered(cls, width: int, height: int, fx: float, fy: float | None = None) -> Camera:
        """A camera with the principal point at the geometric image centre."""
        return cls(int(width), int(height), float(fx), float(fy if fy is not None else fx),
                   (width - 1) / 2.0, (height - 1) / 2.0)  # fmt: skip

    @classmethod
    def from_continuous(
        cls,
        width: int,
        height: int,
        fx: float,
        fy: float,
        cx: float,
        cy: float,
        dist: tuple[float, ...] = (),
        dist_model: str = "opencv",
    ) -> Camera:
        """From intrinsics in the continuous convention (COLMAP, instant-ngp, gsplat)."""
        return cls(int(width), int(height), float(fx), float(fy), float(cx) - 0.5, float(cy) - 0.5, dist, dist_model)

    @classmethod
    def from_K(cls, K: np.ndarray, width: int, height: int, dist: tuple[float, ...] = ()) -> Camera:
        """From a 3x3 intrinsic matrix in the pixel-index convention."""
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3):
            raise IntrinsicsError(f"K must be 3x3, got shape {K.shape}")
        if abs(K[0, 1]) > 1e-9 or np.any(np.abs(K[2] - [0, 0, 1]) > 1e-9) or abs(K[1, 0]) > 1e-9:
            raise IntrinsicsError(f"K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], got {K.tolist()}")
        return cls(int(width), int(height), K[0, 0], K[1, 1], K[0, 2], K[1, 2], dist)

    @classmethod
    def from_dict(cls, d: dict) -> Camera:
        return cls(**{**d, "dist": tuple(d.get("dist", ()))})

    # ---------------------------------------------------------------- views
    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsic matrix (pixel-index convention), float64."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height

    @property
    def has_distortion(self) -> bool:
        """Whether the image is not the pinhole's: non-zero coefficients, or any fisheye."""
        return self.dist_model != "opencv" or any(d != 0.0 for d in self.dist)

    def continuous_principal_point(self) -> tuple[float, float]:
        """``(cx, cy)`` in the continuous convention, for gsplat and COLMAP."""
        return self.cx + 0.5, self.cy + 0.5

    def continuous_K(self) -> np.ndarray:
        """The 3x3 intrinsic matrix in the continuous convention, as gsplat and the reference rasterizer take it."""
        K = self.K
        K[0, 2], K[1, 2] = self.continuous_principal_point()
        return K

    def to_dict(self) -> dict:
        """The fields as plain JSON values; ``dist_model`` only where it is not ``"opencv"`` (so the dicts, and
        the digests of records made from them, of cameras read before fisheye support stay the same)."""
        d = asdict(self)
        d["dist"] = list(self.dist)
        if self.dist_model == "opencv":
            del d["dist_model"]
        return d

    # ---------------------------------------------------------------- transforms
    def resized(self, width: int, height: int) -> Camera:
        """The same camera for the image resized to ``width x height`` (exact for any scale)."""
        sx, sy = width / self.width, height / self.height
        cx, cy = self.continuous_principal_point()
        return replace(self, width=int(width), height=int(height), fx=self.fx * sx, fy=self.fy * sy,
                       cx=cx * sx - 0.5, cy=cy * sy - 0.5)  # fmt: skip

    def scaled(self, factor: float) -> Camera:
        """Resize by ``factor``, rounding the image size to whole pixels."""
        return self.resized(round(self.width * factor), round(self.height * factor))

    def cropped(self, left: int, top: int, width: int, height: int) -> Camera:
        """The camera of the crop ``[top:top+height, left:left+width]`` of its image."""
        return replace(self, width=int(width), height=int(height), cx=self.cx - left, cy=self.cy - top)

    def without_distortion(self) -> Camera:
        """The pinhole of the same ``K`` (what renders are, and what :meth:`undistort_image` maps to)."""
        return replace(self, dist=(), dist_model="opencv")

    def undistort_points(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels ``[N, 2]`` of this camera's image moved to where the pinhole of the same ``K`` sees the same
        rays (``cv2.undistortPoints`` / ``cv2.fisheye.undistortPoints``, pixel-index convention); float64."""
        import cv2

        pts = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        if not self.has_distortion or len(pts) == 0:
            return pts.reshape(-1, 2)
        if self.dist_model == "fisheye":
            out = cv2.fisheye.undistortPoints(pts, self.K, np.array(self.dist), P=self.K)
        else:
            out = cv2.undistortPoints(pts, self.K, np.array(self.dist), P=self.K)
        return out.reshape(-1, 2)

    def distort_points(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels ``[N, 2]`` of the pinhole of the same ``K`` (:meth:`without_distortion`) moved to where this
        camera's image sees the same rays: the inverse of :meth:`undistort_points` (``cv2.projectPoints`` /
        ``cv2.fisheye.distortPoints``, pixel-index convention); float64."""
        import cv2

        pts = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        if not self.has_distortion or len(pts) == 0:
            return pts.copy()
        xy = (pts - (self.cx, self.cy)) / (self.fx, self.fy)  # normalised pinhole coordinates
        if self.dist_model == "fisheye":
            out = cv2.fisheye.distortPoints(xy.reshape(-1, 1, 2), self.K, np.array(self.dist))
        else:
            rays = np.concatenate([xy, np.ones((len(xy), 1))], axis=1).reshape(-1, 1, 3)
            out, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), self.K, np.array(self.dist))
        return out.reshape(-1, 2)

    def distortion_map(self) -> np.ndarray:
        """:meth:`distort_points` of every pixel of the pinhole of the same ``K`` and size, ``[H, W, 2]`` float32
        (x, y): where this camera's image sees each pinhole pixel's ray, the map :meth:`undistort_image` samples
        (``cv2.initUndistortRectifyMap`` / ``cv2.fisheye.initUndistortRectifyMap``; milliseconds where
        ``cv2.projectPoints`` on every pixel takes half a second)."""
        import cv2

        W, H = self.size
        if not self.has_distortion:
            v, u = np.mgrid[0:H, 0:W].astype(np.float32)
            return np.stack([u, v], axis=-1)
        init = cv2.fisheye.initUndistortRectifyMap if self.dist_model == "fisheye" else cv2.initUndistortRectifyMap
        mx, my = init(self.K, np.array(self.dist), np.eye(3), self.K, (W, H), cv2.CV_32FC1)
        return np.stack([mx, my], axis=-1)

    def undistort_image(self, image: np.ndarray) -> np.ndarray:
        """This camera's image ``[H, W(, C)]`` resampled (bilinear) to the pinhole of the same ``K`` and size
        (:meth:`without_distortion`); rays outside the image become 0."""
        import cv2

        if not self.has_distortion:
            return image
        if self.dist_model == "fisheye":
            return cv2.fisheye.undistortImage(image, self.K, np.array(self.dist), Knew=self.K)
        return cv2.undistort(image, self.K, np.array(self.dist))

    # ---------------------------------------------------------------- geometry
    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Pixels ``[N, 2]`` of camera-frame points ``[N, 3]`` (ignores distortion)."""
        p = np.asarray(points_cam, dtype=np.float64)
        return np.stack([self.fx * p[:, 0] / p[:, 2] + self.cx, self.fy * p[:, 1] / p[:, 2] + self.cy], axis=1)

    def unproject(self, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Camera-frame points ``[N, 3]`` of pixels ``[N, 2]`` at z-depths ``[N]`` (ignores distortion)."""
        uv = np.asarray(pixels, dtype=np.float64)
        z = np.asarray(depth, dtype=np.float64)
        return np.stack([(uv[:, 0] - self.cx) / self.fx * z, (uv[:, 1] - self.cy) / self.fy * z, z], axis=1)
