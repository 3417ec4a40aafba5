"""Relative pose from the essential matrix (OpenCV's five-point RANSAC, then the cheirality test of
``cv2.recoverPose``): GS-CPR_rel's two-view step, before the rendered depth fixes the scale.

Points are normalised with each camera's intrinsics, so the two views may have different cameras; the threshold
in pixels of ``camera`` becomes ``threshold_px / sqrt(fx fy)`` on the normalised plane. Backend options
(:attr:`SolverOptions.backend`) are keyword arguments of ``cv2.findEssentialMat``, passed unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..camera import Camera
from ..geometry import make_pose
from .base import Estimate, RelativePoseSolver, SolverOptions


class EssentialMatrixSolver(RelativePoseSolver):
    name = "essential"
    defaults = {"max_iterations": 1000, "min_iterations": 0, "confidence": 0.9999}  # OpenCV's iterations

    def _solve(self, points2d, points2d_ref, camera: Camera, camera_ref: Camera, options: SolverOptions):
        if len(points2d) < 5:
            return None
        n_ref = camera_ref.unproject(points2d_ref, np.ones(len(points2d_ref)))[:, :2]
        n = camera.unproject(points2d, np.ones(len(points2d)))[:, :2]
        cv2.setRNGSeed(options.seed)
        kwargs = {"method": cv2.RANSAC, "prob": options.confidence, "maxIters": options.max_iterations,
                  "threshold": options.threshold_px / np.sqrt(camera.fx * camera.fy), **options.backend}  # fmt: skip
        E, mask = cv2.findEssentialMat(n_ref, n, np.eye(3), **kwargs)
        if E is None or E.shape != (3, 3):
            return None
        _, R, t, mask = cv2.recoverPose(E, n_ref, n, np.eye(3), mask=mask)
        inliers = mask.reshape(-1) > 0
        # Five distinct points in each view determine E; inliers piled on fewer pixels (a degenerate match set)
        # fit any E, so OpenCV's answer is arbitrary: no pose rather than a confident wrong one.
        cell = max(options.threshold_px, 1e-6)
        if min(_distinct(points2d[inliers], cell), _distinct(points2d_ref[inliers], cell)) < 5:
            return None
        return Estimate(make_pose(R, t.reshape(3)), inliers)


def _distinct(points: np.ndarray, cell: float) -> int:
    """How many different ``cell``-px cells the points ``[N, 2]`` fall in."""
    return len(np.unique(np.floor(points / cell), axis=0))
