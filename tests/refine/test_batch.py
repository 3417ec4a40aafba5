"""Batched refinement (refine/batch.py) verifies each query as one-at-a-time refinement does: the same confidence
and status, with the render of the batch as the coarse pose's render."""

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.geometry import perturb_pose
from gscpr.refine import RefineConfig, Status, refine_batch, refine_query
from gscpr.splat import render
from gscpr.synthetic import mirrored_x, pose_inside

CAM = Camera.centered(320, 240, 260.0)


@pytest.fixture(scope="module")
def queries(room):
    gts = [pose_inside(np.random.default_rng(s)) for s in (1, 2)]
    images = list(render(room, CAM, np.stack(gts), backend="torch").rgb.numpy())
    coarse = np.stack([perturb_pose(g, 3.0, 0.05, frame="world", rng=s) for s, g in zip((1, 2), gts, strict=True)])
    return images, coarse


def test_a_batch_gives_each_query_the_confidence_it_gets_alone(room, xfeat, queries):
    images, coarse = queries
    cfg = RefineConfig(ransac_px=1.0, recovery=())
    batch = refine_batch(room, images, [CAM] * 2, coarse, xfeat, cfg)
    for r, image, pose in zip(batch, images, coarse, strict=True):
        single = refine_query(room, image, CAM, pose, xfeat, cfg)
        assert r.status == single.status == Status.REFINED and r.confidence > 0.9 and r.timings["verify"] > 0
        assert r.confidence == pytest.approx(single.confidence, abs=1e-3)
        assert r.verify["variant"] == "render" and r.verify["ncc"] == pytest.approx(single.verify["ncc"], abs=1e-3)


def test_a_batch_in_the_wrong_scene_keeps_the_coarse_poses_unverified(room, xfeat, queries):
    images, coarse = queries
    batch = refine_batch(mirrored_x(room), images, [CAM] * 2, coarse, xfeat, RefineConfig(ransac_px=1.0, recovery=()))
    assert all(r.status != Status.REFINED for r in batch)
    for r, pose in zip(batch, coarse, strict=True):
        np.testing.assert_array_equal(r.pose, pose)
        if r.status == Status.UNVERIFIED:  # a pose was solved: confidence, reason and the solved pose are kept
            assert r.confidence is not None and "verification: confidence" in r.message and r.solved is not None
