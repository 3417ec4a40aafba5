"""PnP-RANSAC with PoseLib (LO-RANSAC over P3P, then bundle adjustment on the inliers): the default solver.

Backend options (:attr:`SolverOptions.backend`): ``{"ransac": {...}, "bundle": {...}}``, merged over the ones
derived from the generic fields and passed to ``poselib.estimate_absolute_pose`` unchanged.
"""

from __future__ import annotations

import numpy as np

from ..camera import Camera
from ..geometry import make_pose
from .base import AbsolutePoseSolver, Estimate, SolverOptions


def poselib_camera(camera: Camera) -> dict:
    """``camera`` as PoseLib's camera dict (ideal pinhole; PoseLib takes the pixel-index convention too)."""
    return {"model": "PINHOLE", "width": camera.width, "height": camera.height,
            "params": [camera.fx, camera.fy, camera.cx, camera.cy]}  # fmt: skip


class PoseLibPnP(AbsolutePoseSolver):
    name = "poselib"
    # PoseLib and COLMAP default to at least 1000 RANSAC iterations. With the hundreds of good matches of a render
    # near the query, LO-RANSAC reaches the same pose after a few tens (on the H100 machine: PnP 48 ms at 1000,
    # 3.3 ms at 100, 2.0 ms at 20, same median error: benchmarks/results/refine_*); the adaptive stopping rule
    # still runs more iterations when the inlier ratio is low.
    defaults = {"max_iterations": 10_000, "min_iterations": 20, "confidence": 0.9999}

    def _solve(self, points2d: np.ndarray, points3d: np.ndarray, camera: Camera, options: SolverOptions):
        import poselib

        cam = poselib_camera(camera)
        ransac = {"max_reproj_error": options.threshold_px, "max_iterations": options.max_iterations,
                  "min_iterations": options.min_iterations, "success_prob": options.confidence,
                  "seed": options.seed, **options.backend.get("ransac", {})}  # fmt: skip
        pose, info = poselib.estimate_absolute_pose(
            points2d, points3d, cam, ransac, dict(options.backend.get("bundle", {}))
        )
        inliers = np.asarray(info.pop("inliers"), dtype=bool)
        if info.get("num_inliers", 1) == 0:  # no model (too few points): PoseLib returns the identity
            return None
        return Estimate(make_pose(pose.R, pose.t), inliers, info)
