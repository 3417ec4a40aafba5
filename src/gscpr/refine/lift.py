"""Lifting: render-side keypoints to world points with the rendered depth; query keypoints undistorted."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..camera import Camera

__all__ = ["lift_keypoints", "solve_camera", "undistort_keypoints"]


def undistort_keypoints(kpts: np.ndarray, camera: Camera) -> np.ndarray:
    """Query keypoints ``[N, 2]`` moved to where an ideal pinhole with the same K would see them (any distortion
    model of ``gscpr.camera``: :meth:`Camera.undistort_points`)."""
    if not camera.has_distortion or len(kpts) == 0:
        return kpts
    return camera.undistort_points(kpts)


def solve_camera(camera: Camera, principal_point: str = "camera") -> Camera:
    """The camera lifting and PnP compute with (``RefineConfig.principal_point``): ``camera`` itself for
    ``"camera"``; for ``"half-size"`` its principal point moved to ``(W/2, H/2)`` in the pixel-index convention,
    the original GS-CPR's ``K`` (``cx, cy = W/2, H/2`` applied to integer pixel indices), which is half a pixel
    right of and below the centre of its own renders (``(W-1)/2`` here, ``W/2`` in the continuous convention).
    ``ValueError`` for another value."""
    if principal_point == "camera":
        return camera
    if principal_point == "half-size":
        return replace(camera, cx=camera.width / 2.0, cy=camera.height / 2.0)
    raise ValueError(f"principal_point must be 'camera' or 'half-size', got {principal_point!r}")


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

    ``sampling``: ``"bilinear"`` (the four pixels around the keypoint), ``"nearest"`` (the pixel whose centre
    is closest: ``rint``) or ``"floor"`` (``depth[int(y), int(x)]``, row ``y``, column ``x``: the original
    GS-CPR's lookup, whose keypoints are integers truncated from their scaled positions; for non-negative
    coordinates truncation is the floor).

    Returns ``(points [M, 3], valid [N])``: a keypoint is lifted only where the depth is positive, the render
    is at least ``min_alpha`` opaque and, for bilinear sampling, the four neighbours lie on one surface
    (relative depth spread below ``max_depth_jump``). ``alpha=None`` treats every pixel with depth as opaque.
    Points with no depth are never lifted to the camera centre (a defect of the original).
    """
    H, W = depth.shape
    kpts = np.asarray(kpts, dtype=np.float64).reshape(-1, 2)
    alpha = (depth > 0).astype(np.float32) if alpha is None else alpha
    if sampling in ("nearest", "floor"):
        pick = np.rint if sampling == "nearest" else np.floor
        xi, yi = pick(kpts[:, 0]).astype(int), pick(kpts[:, 1]).astype(int)
        inside = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        xi, yi = xi.clip(0, W - 1), yi.clip(0, H - 1)
        d = depth[yi, xi]
        valid = inside & (d > 0) & (alpha[yi, xi] >= min_alpha)
    elif sampling == "bilinear":
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
    else:
        raise ValueError(f"sampling must be 'bilinear', 'nearest' or 'floor', got {sampling!r}")
    valid &= np.isfinite(d)
    p_cam = camera.unproject(kpts[valid], d[valid])
    R, t = pose_w2c[:3, :3], pose_w2c[:3, 3]
    return (p_cam - t) @ R, valid
