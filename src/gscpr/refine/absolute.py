"""The absolute pose step of a pass (GS-CPR): render keypoints lifted to world points with the rendered depth,
the query pose from PnP-RANSAC on the query keypoints."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..match.base import Matches
from ..solvers import AbsolutePoseSolver
from .config import RefineConfig
from .lift import lift_keypoints, solve_camera, undistort_keypoints
from .matching import QueryImage
from .types import Pass, Render, Status

__all__ = ["solve_absolute"]


def solve_absolute(
    matches: Matches,
    render: Render,
    query: QueryImage,
    pose_w2c: np.ndarray,
    solver: AbsolutePoseSolver,
    cfg: RefineConfig,
    timings: dict[str, float],
) -> Pass:
    """The query's w2c pose from ``matches`` (render pixels -> query pixels) on ``render``, made at
    ``pose_w2c``. Pixels with no depth or low opacity are dropped, never passed to the solver."""
    t0 = time.perf_counter()
    p3d, valid = lift_keypoints(matches.kpts0, render.depth, render.alpha,
                                solve_camera(render.camera, cfg.principal_point), pose_w2c,
                                cfg.depth_sampling, cfg.min_alpha, cfg.max_depth_jump)  # fmt: skip
    # Query keypoints are undistorted to the pinhole of the query's K; PnP takes cfg.principal_point's.
    pinhole = solve_camera(query.camera.without_distortion(), cfg.principal_point)
    p2d = undistort_keypoints(matches.kpts1[valid], query.camera)
    t1 = time.perf_counter()
    timings["lift"] += t1 - t0
    lifted = int(valid.sum())
    if lifted < cfg.min_matches:
        return Pass(Status.TOO_FEW_VALID_DEPTH, num_lifted=lifted)
    # A solver that computes on a device takes the matcher's (where the query already is): --device cpu stays off.
    options = replace(cfg.pose_solver_options(), device=str(getattr(query.for_matching, "device", "cpu")))
    est = solver.solve(p2d, p3d, pinhole, options)
    timings["pnp"] += time.perf_counter() - t1
    if est is None:
        return Pass(Status.PNP_FAILED, num_lifted=lifted, message=f"{solver.name} found no pose")
    if est.num_inliers < cfg.min_inliers:
        return Pass(Status.TOO_FEW_INLIERS, num_lifted=lifted, num_inliers=est.num_inliers)
    T, inl = est.pose, est.inliers
    err = np.linalg.norm(pinhole.project(p3d[inl] @ T[:3, :3].T + T[:3, 3]) - p2d[inl], axis=1)
    return Pass(Status.REFINED, pose=T, num_lifted=lifted, num_inliers=est.num_inliers,
                inlier_ratio=est.num_inliers / max(1, lifted),
                reproj_error=float(np.median(err)) if len(err) else float("nan"), inlier_kpts=p2d[inl],
                inlier_points=p3d[inl], solve_K=pinhole.K,
                reproj_rms=float(np.sqrt(np.mean(err**2))) if len(err) else float("nan"),
                ransac_iterations=_iterations(est.info))  # fmt: skip


def _iterations(info: dict) -> int | None:
    """The RANSAC hypotheses the solver reports (``info["iterations"]``: PoseLib's; OpenCV and pycolmap say none)."""
    n = info.get("iterations")
    return int(n) if n is not None else None
