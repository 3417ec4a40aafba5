"""Generated scenes for tests: a room whose walls are tiled with flat, randomly coloured Gaussians."""

from __future__ import annotations

import numpy as np
import torch

from gscpr.geometry import make_pose, qvec_to_rotmat
from gscpr.splat import Gaussians


def textured_room(n_side: int = 60, half: float = 2.0, seed: int = 0) -> Gaussians:
    """Six walls of ``n_side^2`` flat splats each (white-noise colours plus a smooth pattern) around the origin."""
    rng = np.random.default_rng(seed)
    u = (np.arange(n_side) + 0.5) / n_side * 2 * half - half
    uu, vv = (a.ravel() for a in np.meshgrid(u, u))
    spacing = 2 * half / n_side
    means, scales, colors = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            p = np.zeros((len(uu), 3))
            a, b = [i for i in range(3) if i != axis]
            p[:, a], p[:, b], p[:, axis] = uu, vv, sign * half
            s = np.full((len(uu), 3), 0.7 * spacing)
            s[:, axis] = 0.002  # flat, lying on the wall
            smooth = 0.5 + 0.5 * np.sin(uu[:, None] * 3 + vv[:, None] * 2 + np.arange(3))
            means.append(p)
            scales.append(s)
            colors.append(0.6 * rng.uniform(size=(len(uu), 3)) + 0.4 * smooth)
    g = Gaussians.from_points(np.concatenate(means), np.concatenate(colors), 0.01, opacity=0.95, sh_degree=0)
    g.log_scales = torch.log(torch.tensor(np.concatenate(scales), dtype=torch.float32))
    return g


def pose_inside(rng: np.random.Generator, spread: float = 0.7) -> np.ndarray:
    """A random w2c pose with the camera near the centre of the room, looking anywhere."""
    R = qvec_to_rotmat(rng.normal(size=4))
    return make_pose(R, -R @ rng.uniform(-spread, spread, 3))
