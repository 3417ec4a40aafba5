"""Every matcher that runs on the CPU finds the known displacement between an image and a shifted crop of it."""

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.match import load_matcher
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room


@pytest.fixture(scope="module")
def image():
    g = textured_room(seed=1)
    return (
        render(g, Camera.centered(256, 192, 200.0), pose_inside(np.random.default_rng(2)), backend="torch")
        .rgb[0]
        .numpy()
    )


@pytest.mark.parametrize("name", ["xfeat", "xfeat-lighterglue", "lightglue", "lightglue-disk", "sift"])
def test_recovers_a_pure_shift(image, name):
    matcher = load_matcher(name, "cpu")
    # Two crops of the same size (multiples of 32, so XFeat does not resample): b's (x, y) is a's (x + 11, y + 7).
    a, b = np.ascontiguousarray(image[:160, :224]), np.ascontiguousarray(image[7:167, 11:235])
    m = matcher.match(a, b)
    assert len(m) > 30
    d = m.kpts0 - m.kpts1
    # XFeat re-detects this noise texture within a few pixels (refinement adds the sub-pixel step).
    tol, share = (3.0, 0.6) if name.startswith("xfeat") else (1.0, 0.8)
    good = np.linalg.norm(d - [11, 7], axis=1) < tol
    assert good.mean() > share  # most matches are right (RANSAC takes care of the rest) ...
    np.testing.assert_allclose(np.median(d[good], axis=0), [11, 7], atol=0.25)  # ... and unbiased


@pytest.mark.parametrize("name", ["xfeat", "sift"])
def test_a_batch_matches_like_pair_by_pair(image, name):
    matcher = load_matcher(name, "cpu")
    a, b = np.ascontiguousarray(image[:160, :224]), np.ascontiguousarray(image[7:167, 11:235])
    blank = np.full_like(a, 0.5)
    batch = matcher.match_batch([a, b, blank], [b, a, a])
    assert len(batch[2]) == 0
    for m, (x, y) in zip(batch[:2], [(a, b), (b, a)], strict=True):
        single = matcher.match(x, y)
        assert len(m) == len(single) > 30
        np.testing.assert_allclose(m.kpts0, single.kpts0, atol=1e-3)
        np.testing.assert_allclose(m.kpts1, single.kpts1, atol=1e-3)


@pytest.mark.parametrize("name", ["xfeat", "sift"])
def test_blank_image_gives_no_matches(image, name):
    m = load_matcher(name, "cpu").match(image, np.full_like(image, 0.5))
    assert len(m) == 0 or len(m) < 5


def test_resizing_keeps_full_resolution_coordinates(image):
    m = load_matcher("sift", "cpu", max_size=128).match(image, np.ascontiguousarray(image[7:, 11:]))
    d = m.kpts0 - m.kpts1
    good = np.linalg.norm(d - [11, 7], axis=1) < 2.0
    assert good.mean() > 0.6 and abs(np.median(d[good, 0]) - 11) < 0.5
