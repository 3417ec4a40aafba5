"""What every trainer shares: the random initialisation, the initial scales and SSIM."""

import numpy as np
import pytest
import torch

from gscpr.synthetic import look_at_origin
from gscpr.training.loop import init_points_random, knn_scales, ssim


def test_random_init_lands_where_inward_cameras_look():
    rng = np.random.default_rng(0)
    poses = np.stack([look_at_origin(rng, 4.0) for _ in range(30)])
    xyz, rgb = init_points_random(poses, 4000, rng)
    inner = np.abs(xyz).max(axis=1) < 0.35 * 4.0  # NeRF-synthetic: about [-1.4, 1.4]^3 ...
    assert 0.75 <= inner.mean() < 0.76 and np.abs(xyz).max() > 6.0  # ... and some background further out
    assert rgb.shape == (4000, 3)


def test_knn_scales_and_ssim():
    grid = torch.stack(torch.meshgrid(*[torch.arange(5.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    s = knn_scales(grid * 0.1, chunk=7)
    torch.testing.assert_close(s[62], torch.tensor(0.1))  # the centre of a 0.1 grid: 3 neighbours at 0.1
    a = torch.rand(1, 32, 32, 3)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-5)
    assert float(ssim(a, torch.rand(1, 32, 32, 3))) < 0.2
