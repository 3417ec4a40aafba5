"""The calling shape every pose solver shares (PoseLib's): correspondences, cameras and options in, an
:class:`Estimate` out.

* **Absolute** solvers (PnP-RANSAC): ``solve(points2d [N, 2], points3d [N, 3], camera, options)`` -> the w2c
  pose ``[4, 4]`` of ``camera`` (OpenCV axes), with world points ``points3d`` seen at pixels ``points2d``.
* **Relative** solvers (two-view): ``solve(points2d [N, 2], points2d_ref [N, 2], camera, camera_ref, options)``
  -> the transform ``[4, 4]`` from the reference camera's frame to ``camera``'s frame, translation of unit
  length (two views fix the direction of the baseline, not its length).

Pixels are in the OpenCV pixel-index convention (``gscpr.camera``) on ideal pinhole cameras: undistort first.
A solver never raises for degenerate input: it returns ``None`` when it finds no pose, and
:meth:`PoseSolver.solve` turns backend errors and non-finite output into ``None`` as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cv2
import numpy as np

from ..camera import Camera
from ..geometry import project_to_so3

__all__ = ["AbsolutePoseSolver", "Estimate", "PoseSolver", "RelativePoseSolver", "SolverOptions"]


@dataclass(frozen=True)
class SolverOptions:
    """Robust-estimation options every solver understands, and the backend's own, passed through unchanged.

    Attributes:
        threshold_px: inlier threshold, reprojection (or epipolar) error in pixels of ``camera``.
        max_iterations, min_iterations, confidence: RANSAC's bounds and its adaptive stopping rule's
            confidence; ``None`` takes the solver's own default (:attr:`PoseSolver.defaults`).
        seed: the random generator's seed, so that a query's pose does not depend on what was solved before.
        device: the torch device of a solver that computes on one (``gpu-ransac``): refinement passes its
            matcher's, so that ``--device cpu`` keeps it off the GPU; ``None`` takes the solver's own default.
        backend: options handed to the backend as they are, over the ones derived from the fields above
            (PoseLib's ``ransac`` / ``bundle`` dicts, attributes of pycolmap's ``AbsolutePoseEstimationOptions``,
            keyword arguments of ``cv2.solvePnPRansac`` / ``cv2.findEssentialMat``): see each solver.
    """

    threshold_px: float = 2.0
    max_iterations: int | None = None
    min_iterations: int | None = None
    confidence: float | None = None
    seed: int = 0
    device: str | None = None
    backend: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Estimate:
    """A solver's answer: ``pose [4, 4]`` float64 (rotation projected onto SO(3)), ``inliers [N]`` bool, and
    whatever the backend reports (``info``; RANSAC solvers say the hypotheses they tried as ``iterations``)."""

    pose: np.ndarray
    inliers: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def num_inliers(self) -> int:
        return int(np.count_nonzero(self.inliers))


class PoseSolver:
    """Base class. Subclasses set :attr:`name`, :attr:`kind` and :attr:`defaults` and implement ``_solve``
    with the calling shape of their kind; :meth:`solve` checks the output."""

    name: ClassVar[str] = "solver"
    kind: ClassVar[str] = "absolute"  # or "relative"
    #: RANSAC bounds used where :class:`SolverOptions` leaves them ``None``.
    defaults: ClassVar[dict[str, Any]] = {"max_iterations": 10_000, "min_iterations": 0, "confidence": 0.9999}

    def resolved(self, options: SolverOptions | None) -> SolverOptions:
        """``options`` with every ``None`` replaced by this solver's default."""
        o = options or SolverOptions()
        fill = {
            k: self.defaults[k] for k in ("max_iterations", "min_iterations", "confidence") if getattr(o, k) is None
        }
        return SolverOptions(**{**o.__dict__, **fill})

    def solve(self, *args, options: SolverOptions | None = None) -> Estimate | None:
        """The estimate for the correspondences in ``args`` (the kind's calling shape), or ``None``."""
        try:
            est = self._solve(*args, self.resolved(options))
        except (cv2.error, RuntimeError, ValueError, np.linalg.LinAlgError):
            return None
        if est is None or not np.all(np.isfinite(est.pose)):
            return None
        est.pose = np.asarray(est.pose, dtype=np.float64)
        est.pose[:3, :3] = project_to_so3(est.pose[:3, :3])
        est.inliers = np.asarray(est.inliers, dtype=bool)
        return est

    def _solve(self, *args) -> Estimate | None:
        raise NotImplementedError


class AbsolutePoseSolver(PoseSolver):
    """PnP: ``solve(points2d [N, 2], points3d [N, 3], camera, options=...)`` -> w2c pose of ``camera``."""

    kind = "absolute"

    def solve(  # type: ignore[override]
        self, points2d: np.ndarray, points3d: np.ndarray, camera: Camera, options: SolverOptions | None = None
    ) -> Estimate | None:
        p2d = np.ascontiguousarray(points2d, dtype=np.float64).reshape(-1, 2)
        p3d = np.ascontiguousarray(points3d, dtype=np.float64).reshape(-1, 3)
        if len(p2d) != len(p3d):
            raise ValueError(f"got {len(p2d)} 2D points and {len(p3d)} 3D points")
        return super().solve(p2d, p3d, camera, options=options)

    def _solve(self, points2d: np.ndarray, points3d: np.ndarray, camera: Camera, options: SolverOptions):
        raise NotImplementedError


class RelativePoseSolver(PoseSolver):
    """Two-view: ``solve(points2d [N, 2], points2d_ref [N, 2], camera, camera_ref, options=...)`` -> the
    reference-to-``camera`` transform, unit translation.

    :attr:`inputs` says what the solver takes: ``"correspondences"`` (the calling shape above) or
    ``"pointmaps"`` (MASt3R's pairwise outputs, ``solve_pointmaps(pair, options)``: ``relative_mast3r.py``)."""

    kind = "relative"
    inputs: ClassVar[str] = "correspondences"

    def solve(  # type: ignore[override]
        self,
        points2d: np.ndarray,
        points2d_ref: np.ndarray,
        camera: Camera,
        camera_ref: Camera,
        options: SolverOptions | None = None,
    ) -> Estimate | None:
        p = np.ascontiguousarray(points2d, dtype=np.float64).reshape(-1, 2)
        p_ref = np.ascontiguousarray(points2d_ref, dtype=np.float64).reshape(-1, 2)
        if len(p) != len(p_ref):
            raise ValueError(f"got {len(p)} and {len(p_ref)} points")
        return super().solve(p, p_ref, camera, camera_ref, options=options)

    def _solve(self, points2d, points2d_ref, camera: Camera, camera_ref: Camera, options: SolverOptions):
        raise NotImplementedError
