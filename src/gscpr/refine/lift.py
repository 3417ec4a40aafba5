"""Lifting: render-side keypoints to world points with the rendered depth; query keypoints undistorted."""

from __future__ import annotations

import cv2
import numpy as np

from ..camera import Camera

__all__ = ["lift_keypoints", "undistort_keypoints"]


def undistort_keypoints(kpts: np.ndarray, camera: Camera) -> np.ndarray:
    """Query keypoints ``[N, 2]`` moved to where an ideal pinhole with the same K would see them."""
    if not camera.has_distortion or len(kpts) == 0:
        return kpts
    pts = cv2.undistortPoints(kpts.reshape(-1, 1, 2).astype(np.float64), camera.K, np.array(camera.dist), P=camera.K)
    return pts.reshape(-1, 2)


def lift_keypoints(
    kpts: np.ndarray,
    depth: np.ndarray,
    alpha: np.ndarray | None,
    camera: Camera,
    pose_w2c: np.ndarray,
    sampling: str = "bilinear",
    min_alpha: float = 0.5,
    max_depth_jump: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """World points of render keypoints ``[N, 2]`` (pixel-index convention) from the rendered z-depth ``[H, W]``.

    Returns ``(points [M, 3], valid [N])``: a keypoint is lifted only where the depth is positive, the render
    is at least ``min_alpha`` opaque and, for bilinear sampling, the four neighbours lie on one surface
    (relative depth spread below ``max_depth_jump``). ``alpha=None`` treats every pixel with depth as opaque.
    Points with no depth are never lifted to the camera centre (a defect of the original).
    """
    H, W = depth.shape
    kpts = np.asarray(kpts, dtype=np.float64).reshape(-1, 2)
    alpha = (depth > 0).astype(np.float32) if alpha is None else alpha
    if sampling == "nearest":
        xi, yi = np.rint(kpts[:, 0]).astype(int), np.rint(kpts[:, 1]).astype(int)
        inside = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        xi, yi = xi.clip(0, W - 1), yi.clip(0, H - 1)
        d = depth[yi, xi]
        valid = inside & (d > 0) & (alpha[yi, xi] >= min_alpha)
    else:
        x0, y0 = np.floor(kpts[:, 0]).astype(int), np.floor(kpts[:, 1]).astype(int)
        inside = (x0 >= 0) & (x0 < W - 1) & (y0 >= 0) & (y0 < H - 1)
        x0, y0 = x0.clip(0, W - 2), y0.clip(0, H - 2)
        fx, fy = kpts[:, 0] - x0, kpts[:, 1] - y0
        corners = np.stack([depth[y0, x0], depth[y0, x0 + 1], depth[y0 + 1, x0], depth[y0 + 1, x0 + 1]], axis=1)
        a = np.stack([alpha[y0, x0], alpha[y0, x0 + 1], alpha[y0 + 1, x0], alpha[y0 + 1, x0 + 1]], axis=1)
        w = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)
        d = (corners * w).sum(axis=1)
        lo, hi = corners.min(axis=1), corners.max(axis=1)
        smooth = (hi - lo) <= max_depth_jump * np.maximum(lo, 1e-12)
        valid = inside & (lo > 0) & (a.min(axis=1) >= min_alpha) & smooth
    valid &= np.isfinite(d)
    p_cam = camera.unproject(kpts[valid], d[valid])
    R, t = pose_w2c[:3, :3], pose_w2c[:3, 3]
    return (p_cam - t) @ R, valid
