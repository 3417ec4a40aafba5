import sys

import numpy as np
import pytest
import torch

from gscpr.match import MatchError, load_matcher
from gscpr.match.base import Matches, rescale_keypoints, resize_long_side, to_tensor_image


def test_rescale_keypoints_maps_pixel_centres_and_edges():
    # Halving a 640-wide image: small pixel 0 covers big pixels 0 and 1 (centre 0.5), the edge -0.5 stays put.
    k = rescale_keypoints(np.array([[0.0, 0.0], [-0.5, -0.5], [319.5, 239.5]]), 0.5, 0.5)
    np.testing.assert_allclose(k, [[0.5, 0.5], [-0.5, -0.5], [639.5, 479.5]])


def test_resize_long_side_and_inputs():
    img = to_tensor_image(np.zeros((480, 640, 3), np.uint8))
    assert img.shape == (3, 480, 640) and img.dtype == torch.float32
    small, sx, sy = resize_long_side(img, 320)
    assert small.shape == (3, 240, 320) and (sx, sy) == (0.5, 0.5)
    same, sx, _ = resize_long_side(img, None)
    assert same is img and sx == 1.0
    with pytest.raises(MatchError, match=r"RGB image \[H, W, 3\]"):
        to_tensor_image(np.zeros((4, 4)))


def test_unknown_and_unavailable_matchers(monkeypatch):
    monkeypatch.setitem(sys.modules, "mast3r", None)  # unavailable even where the real mast3r is on sys.path
    with pytest.raises(MatchError, match="unknown matcher 'orb'"):
        load_matcher("orb")
    with pytest.raises(MatchError, match="mast3r package"):
        load_matcher("mast3r", "cpu", checkpoint="model.pth")
    assert len(Matches.empty()) == 0
