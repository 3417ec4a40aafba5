"""OpenCV EPnP inside RANSAC (``cv2.solvePnPRansac`` with ``SOLVEPNP_EPNP``): the original GS-CPR's solver.

Its defaults are the original's: 2000 iterations, confidence 0.99 (the threshold comes from the recipe: 1 px at
640x480, 2.5 px at 1920x1080). OpenCV has no minimum iteration count. Backend options
(:attr:`SolverOptions.backend`) are keyword arguments of ``cv2.solvePnPRansac``, passed unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..camera import Camera
from ..geometry import make_pose
from .base import AbsolutePoseSolver, Estimate, SolverOptions


class OpenCVEPnP(AbsolutePoseSolver):
    name = "opencv-epnp"
    defaults = {"max_iterations": 2000, "min_iterations": 0, "confidence": 0.99}

    def _solve(self, points2d: np.ndarray, points3d: np.ndarray, camera: Camera, options: SolverOptions):
        # OpenCV's generator is global: seed it for each query, so that a pose does not depend on which queries
        # the process solved before (sharded runs).
        cv2.setRNGSeed(options.seed)
        kwargs = {"reprojectionError": options.threshold_px, "iterationsCount": options.max_iterations,
                  "confidence": options.confidence, "flags": cv2.SOLVEPNP_EPNP, **options.backend}  # fmt: skip
        ok, rvec, tvec, inliers = cv2.solvePnPRansac(
            points3d.astype(np.float32), points2d.astype(np.float32), camera.K, None, **kwargs
        )
        if not ok or inliers is None:
            return None
        mask = np.zeros(len(points2d), dtype=bool)
        mask[inliers.reshape(-1)] = True
        return Estimate(make_pose(cv2.Rodrigues(rvec)[0], tvec.reshape(3)), mask)
