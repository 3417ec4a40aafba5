"""Exact MASt3R-style pairwise pointmaps of a slanted plane seen by two pinhole cameras (principal point at
``(W/2, H/2)``, integer pixel coordinates, as DUSt3R's PairViewer assumes), in units ``scale`` x metres."""

from __future__ import annotations

import numpy as np

from gscpr.pointmaps import PairPointmaps

PLANE_N, PLANE_D = np.array([0.1, -0.05, 1.0]), 2.0  # n . X = d in camera 0's frame


def plane_hits(w2c: np.ndarray, focal: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of a camera with pose ``w2c`` (from camera 0's frame): the plane point ``[H, W, 3]`` in
    camera 0's frame and in the camera's own frame."""
    W, H = size
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    rays = np.stack([(u - W / 2) / focal, (v - H / 2) / focal, np.ones_like(u)], axis=-1)
    R, t = w2c[:3, :3], w2c[:3, 3]
    centre, dirs = -R.T @ t, rays @ R  # rows of dirs: R^T r
    s = (PLANE_D - PLANE_N @ centre) / (dirs @ PLANE_N)
    return centre + s[..., None] * dirs, s[..., None] * rays


def plane_pair(
    T01: np.ndarray, focals=(400.0, 420.0), size=(128, 96), scale: float = 1.0, confident: int = 0
) -> PairPointmaps:
    """The pair of cameras 0 (identity) and 1 (``T01``: camera 0 -> camera 1), edge ``confident`` the more
    confident one."""
    X0_in0, X0_own = plane_hits(np.eye(4), focals[0], size)
    X1_in0, X1_own = plane_hits(T01, focals[1], size)
    X0_in1 = X0_in0 @ T01[:3, :3].T + T01[:3, 3]
    W, H = size
    hi, lo = np.full((H, W), 5.0, np.float32), np.full((H, W), 4.0, np.float32)
    conf = (hi, lo) if confident == 0 else (lo, hi)
    f32 = np.float32
    return PairPointmaps(
        pts_self=(f32(X0_own * scale), f32(X1_own * scale)),
        pts_other=(f32(X0_in1 * scale), f32(X1_in0 * scale)),
        conf_self=conf,
        conf_other=(conf[1], conf[0]),  # edge i's confidence is mean(conf_self[i]) x mean(conf_other[1 - i])
        resized=(size, size),
        crop=((0, 0), (0, 0)),
    )
