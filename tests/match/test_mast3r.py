import numpy as np
import torch

from gscpr.match.mast3r import border_mask, mast3r_geometry, reciprocal_nn


def test_resize_and_crop_bookkeeping_as_dust3r():
    assert mast3r_geometry(640, 480) == (512, 384, (0, 0, 512, 384))
    # 12-Scenes: 382 rows are cropped to 368, 7 off the top (gs_cpr_12s.py adds them back before rescaling).
    assert mast3r_geometry(1296, 968) == (512, 382, (0, 7, 512, 375))
    assert mast3r_geometry(1920, 1080) == (512, 288, (0, 0, 512, 288))
    assert mast3r_geometry(800, 800) == (512, 512, (0, 64, 512, 448))  # square images become 4:3


def test_reciprocal_nn_finds_a_known_shift():
    torch.manual_seed(0)
    H, W, D = 40, 48, 24
    desc1 = torch.nn.functional.normalize(torch.randn(H, W, D), dim=-1)
    # image 0 sees image 1 shifted: desc0[y, x] = desc1[y + 3, x + 5] inside, noise elsewhere
    desc0 = torch.nn.functional.normalize(torch.randn(H, W, D), dim=-1)
    desc0[: H - 3, : W - 5] = desc1[3:, 5:]
    p0, p1 = reciprocal_nn(desc0, desc1, subsample=8)
    inside = (p0[:, 0] < W - 5) & (p0[:, 1] < H - 3)
    assert inside.sum() >= 20
    np.testing.assert_array_equal(p1[inside] - p0[inside], np.tile([5, 3], (inside.sum(), 1)))
    assert len(np.unique(p0, axis=0)) == len(p0)  # no duplicates


def test_border_filter():
    k = np.array([[2.0, 10], [3, 10], [44, 10], [45, 10], [10, 2.9]])
    assert border_mask(k, 48, 40).tolist() == [False, True, True, False, False]
