"""The relative pose step of a pass (GS-CPR_rel): the render-to-query transform, its scale fixed by the rendered
depth, composed into a *world* pose (the original wrote the render-frame pose instead).

Two solvers, by what they take (``RelativePoseSolver.inputs``):

* ``"pointmaps"`` (``mast3r-pair``, GS-CPR_rel as published): the relative pose from MASt3R's pairwise
  pointmaps (:attr:`Matches.pairwise`), the scale = median(rendered depth / MASt3R's depth of the render) over the
  pixels where both exceed 0.1, at MASt3R's working size (the rendered depth resized bilinearly, as the original's
  ``cv2.resize``, and cropped as the image was).
* ``"correspondences"`` (``essential``, any matcher): the rotation and translation direction from the matches,
  the length from the median ratio of rendered to triangulated depth over the inliers.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from ..match.base import Matches
from ..solvers import RelativePoseSolver
from .config import RefineConfig
from .lift import lift_keypoints, undistort_keypoints
from .matching import QueryImage
from .types import Pass, Render, Status

__all__ = ["MIN_RELATIVE_MATCHES", "solve_relative"]

MIN_RELATIVE_MATCHES = 8  # fewer than this cannot constrain a relative pose robustly
MIN_SCALE_DEPTH = 0.1  # the original's getScale: both depths above this (scene units / MASt3R's)


def solve_relative(
    matches: Matches,
    render: Render,
    query: QueryImage,
    pose_w2c: np.ndarray,
    solver: RelativePoseSolver,
    cfg: RefineConfig,
    timings: dict[str, float],
) -> Pass:
    """The query's w2c pose from ``matches`` on ``render`` (made at ``pose_w2c``) through the relative pose."""
    if getattr(solver, "inputs", "correspondences") == "pointmaps":
        return _solve_from_pointmaps(matches, render, pose_w2c, solver, cfg, timings)
    if len(matches) < max(cfg.min_matches, MIN_RELATIVE_MATCHES):
        return Pass(Status.TOO_FEW_MATCHES)
    t0 = time.perf_counter()
    pinhole = query.camera.without_distortion()
    kq = undistort_keypoints(matches.kpts1, query.camera)
    est = solver.solve(kq, matches.kpts0, pinhole, render.camera, cfg.pose_solver_options())
    t1 = time.perf_counter()
    timings["pnp"] += t1 - t0
    if (rejected := _rejected(est, solver, cfg)) is not None:
        return rejected
    # Triangulate the inliers in the render frame at unit baseline; the rendered depth fixes the scale.
    inl = est.inliers
    n_ref = render.camera.unproject(matches.kpts0[inl], np.ones(int(inl.sum())))[:, :2]
    n_q = pinhole.unproject(kq[inl], np.ones(int(inl.sum())))[:, :2]
    R, t = est.pose[:3, :3], est.pose[:3, 3]
    X = cv2.triangulatePoints(np.eye(3, 4), np.hstack([R, t.reshape(3, 1)]), n_ref.T, n_q.T)
    z_tri = X[2] / X[3]
    p3d, valid = lift_keypoints(matches.kpts0[inl], render.depth, render.alpha, render.camera, np.eye(4),
                                cfg.depth_sampling, cfg.min_alpha, cfg.max_depth_jump)  # fmt: skip
    timings["lift"] += time.perf_counter() - t1
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = p3d[:, 2] / z_tri[valid]
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    if len(ratios) < cfg.min_matches:
        return Pass(Status.TOO_FEW_VALID_DEPTH, num_lifted=int(valid.sum()), num_inliers=est.num_inliers,
                    message="no rendered depth to fix the scale")  # fmt: skip
    pose = _world_pose(est.pose, float(np.median(ratios)), pose_w2c)
    return Pass(Status.REFINED, pose=pose, num_lifted=int(valid.sum()), num_inliers=est.num_inliers,
                inlier_ratio=est.num_inliers / len(matches), inlier_kpts=kq[inl])  # fmt: skip


def _solve_from_pointmaps(
    matches: Matches,
    render: Render,
    pose_w2c: np.ndarray,
    solver: RelativePoseSolver,
    cfg: RefineConfig,
    timings: dict[str, float],
) -> Pass:
    """GS-CPR_rel as published: ``solver.solve_pointmaps`` on :attr:`Matches.pairwise`, scaled by the rendered
    depth (median ratio over the pixels where both depths exceed :data:`MIN_SCALE_DEPTH`)."""
    pair = matches.pairwise
    if pair is None:
        return Pass(Status.RELATIVE_POSE_FAILED, message=f"{solver.name} needs MASt3R's pairwise pointmaps (the "
                    "mast3r matcher with pairwise=True); this matcher gave none")  # fmt: skip
    t0 = time.perf_counter()
    est = solver.solve_pointmaps(pair, cfg.pose_solver_options())
    t1 = time.perf_counter()
    timings["pnp"] += t1 - t0
    if (rejected := _rejected(est, solver, cfg)) is not None:
        return rejected
    # The rendered depth as the render was given to the network: resized, then cropped.
    (rw, rh), (left, top) = pair.resized[0], pair.crop[0]
    h, w = pair.shape(0)
    depth = cv2.resize(np.asarray(render.depth, dtype=np.float32), (rw, rh), interpolation=cv2.INTER_LINEAR)
    depth = depth[top : top + h, left : left + w]
    ours = est.info["depth0"]
    valid = (ours > MIN_SCALE_DEPTH) & (depth > MIN_SCALE_DEPTH)
    timings["lift"] += time.perf_counter() - t1
    if not valid.any():  # the original then takes a scale of 1: a pose in MASt3R's units, silently
        return Pass(Status.TOO_FEW_VALID_DEPTH, num_inliers=est.num_inliers,
                    message="no pixel with both rendered and MASt3R depth above 0.1 to fix the scale")  # fmt: skip
    pose = _world_pose(est.pose, float(np.median(depth[valid] / ours[valid])), pose_w2c)
    return Pass(Status.REFINED, pose=pose, num_lifted=int(valid.sum()), num_inliers=est.num_inliers,
                inlier_ratio=est.num_inliers / max(len(est.inliers), 1))  # fmt: skip


def _rejected(est, solver: RelativePoseSolver, cfg: RefineConfig) -> Pass | None:
    """The failed pass of a relative estimate that is missing or has too few inliers; None when it stands."""
    if est is None:
        return Pass(Status.RELATIVE_POSE_FAILED, message=f"{solver.name} found no relative pose")
    if est.num_inliers < cfg.min_inliers:
        return Pass(Status.TOO_FEW_INLIERS, num_inliers=est.num_inliers)
    return None


def _world_pose(T_rel: np.ndarray, scale: float, pose_w2c: np.ndarray) -> np.ndarray:
    """The query's w2c from the render -> query pose ``T_rel`` (unit translation scale) scaled to scene units and
    the render's w2c ``pose_w2c`` (the original returned ``T_rel`` itself, in the render's frame)."""
    T = T_rel.copy()
    T[:3, 3] *= scale
    return T @ pose_w2c
