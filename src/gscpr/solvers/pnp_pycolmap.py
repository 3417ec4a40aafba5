"""PnP-RANSAC with COLMAP (pycolmap's ``estimate_and_refine_absolute_pose``: LO-RANSAC, then refinement).

Backend options (:attr:`SolverOptions.backend`): ``{"ransac": {attr: value}, "refinement": {attr: value}}``, set
on ``pycolmap.AbsolutePoseEstimationOptions().ransac`` and ``pycolmap.AbsolutePoseRefinementOptions()``.
"""

from __future__ import annotations

import numpy as np

from ..camera import Camera
from .base import AbsolutePoseSolver, Estimate, SolverOptions


class PycolmapPnP(AbsolutePoseSolver):
    name = "pycolmap"
    defaults = {"max_iterations": 10_000, "min_iterations": 20, "confidence": 0.9999}  # as PoseLib's, measured

    def _solve(self, points2d: np.ndarray, points3d: np.ndarray, camera: Camera, options: SolverOptions):
        import pycolmap

        # COLMAP's continuous convention is a shift of both points and principal point: a pinhole is unchanged.
        cam = pycolmap.Camera(model="PINHOLE", width=camera.width, height=camera.height,
                              params=[camera.fx, camera.fy, camera.cx, camera.cy])  # fmt: skip
        opts = pycolmap.AbsolutePoseEstimationOptions()
        opts.ransac.max_error = options.threshold_px
        opts.ransac.max_num_trials = options.max_iterations
        opts.ransac.min_num_trials = options.min_iterations
        opts.ransac.confidence = options.confidence
        for k, v in options.backend.get("ransac", {}).items():
            setattr(opts.ransac, k, v)
        refinement = pycolmap.AbsolutePoseRefinementOptions()
        for k, v in options.backend.get("refinement", {}).items():
            setattr(refinement, k, v)
        out = pycolmap.estimate_and_refine_absolute_pose(points2d, points3d, cam, opts, refinement)
        if out is None:
            return None
        T = np.eye(4)
        T[:3, :4] = out["cam_from_world"].matrix()
        return Estimate(T, np.asarray(out["inlier_mask"], dtype=bool), {"num_inliers": out.get("num_inliers")})
