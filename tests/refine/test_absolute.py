"""The absolute step under the paper recipe: the original's RANSAC, and its failures flagged, never written as
refined poses."""

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.geometry import perturb_pose, pose_errors
from gscpr.match.base import Matcher, Matches
from gscpr.recipes import get_recipe
from gscpr.refine import Status, refine_query
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room

CAM = Camera.centered(240, 180, 200.0)


@pytest.fixture(scope="module")
def query():
    scene = textured_room()
    # A view of a corner (seed 3 sees one wall only: a near-planar point set whose two PnP solutions both fit
    # within 1 px, where EPnP may take the other one).
    gt = pose_inside(np.random.default_rng(0))
    image = render(scene, CAM, gt, backend="torch").rgb[0].numpy()
    return scene, image, gt, perturb_pose(gt, 2.0, 0.04, frame="world", rng=0)


class Fixed(Matcher):
    """Matches given in advance (render pixel -> query pixel)."""

    def __init__(self, k0, k1):
        super().__init__("cpu")
        self.k0, self.k1 = np.asarray(k0, float), np.asarray(k1, float)

    def _match(self, a, b):
        return Matches(self.k0, self.k1, np.ones(len(self.k0)))


def test_the_paper_recipe_refines_with_exact_integer_matches(query):
    # MASt3R's matches in the original are integer pixels: an 8-px grid of render pixels with depth, matched to
    # where the true pose sees their surface point. The paper recipe's only error left is its K half a pixel
    # off the render's (about 0.5 / f rad).
    scene, image, gt, coarse = query
    cfg = get_recipe("paper", backend="torch")
    depth = render(scene, CAM, coarse, backend="torch", **cfg.render_options()).depth[0].numpy()
    y, x = np.mgrid[4 : CAM.height : 8, 4 : CAM.width : 8]
    k0 = np.stack([x.ravel(), y.ravel()], 1).astype(float)
    z = depth[y.ravel(), x.ravel()]
    k0, z = k0[z > 0], z[z > 0]
    world = (CAM.unproject(k0, z) - coarse[:3, 3]) @ coarse[:3, :3]
    k1 = CAM.project(world @ gt[:3, :3].T + gt[:3, 3])
    r = refine_query(scene, image, CAM, coarse, Fixed(k0, k1), cfg)
    assert r.ok and r.iterations == 1 and r.num_matches == len(k0)
    rot, trans = pose_errors(r.pose, gt)
    assert 0.003 < rot < 0.05 and trans < 0.01 * 0.04, (rot, trans)
    exact = refine_query(
        scene, image, CAM, coarse, Fixed(k0, k1), get_recipe("paper", backend="torch", principal_point="camera")
    )
    assert pose_errors(exact.pose, gt)[0] < 1e-3  # the camera's own principal point: exact up to float32


def test_ransac_failure_is_flagged_and_the_coarse_pose_kept(query):
    scene, image, gt, coarse = query
    cfg = get_recipe("paper", backend="torch")
    rng = np.random.default_rng(0)
    # Five matches: OpenCV solves them all and calls every one an inlier, untested (the original writes that
    # pose); with no correspondence beyond the 5-point sample the pose is not trusted.
    k = rng.uniform([40, 40], [200, 140], (5, 2))
    r = refine_query(scene, image, CAM, coarse, Fixed(k, k + rng.normal(0, 20, k.shape)), cfg)
    assert r.status == Status.TOO_FEW_INLIERS and r.num_inliers == 5 and not r.ok
    np.testing.assert_array_equal(r.pose, coarse)
    # Random matches: no EPnP hypothesis agrees with anything, OpenCV reports failure.
    k0, k1 = rng.uniform([20, 20], [220, 160], (2, 300, 2))
    r = refine_query(scene, image, CAM, coarse, Fixed(k0, k1), cfg)
    assert r.status in (Status.PNP_FAILED, Status.TOO_FEW_INLIERS) and not r.ok
    np.testing.assert_array_equal(r.pose, coarse)
    # Under 4 matches the original keeps the coarse pose too.
    r = refine_query(scene, image, CAM, coarse, Fixed(k0[:3], k1[:3]), cfg)
    assert r.status == Status.TOO_FEW_MATCHES


def test_the_solver_computes_on_the_matchers_device(query, monkeypatch):
    """A solver that runs on a torch device (gpu-ransac) is handed the matcher's: ``--device cpu`` keeps it on the
    CPU even where a GPU is present."""
    from gscpr.refine import RefineConfig
    from gscpr.solvers import SOLVERS
    from gscpr.solvers.pnp_poselib import PoseLibPnP

    seen = []

    class Records(PoseLibPnP):
        def _solve(self, points2d, points3d, camera, options):
            seen.append(options.device)
            return super()._solve(points2d, points3d, camera, options)

    monkeypatch.setitem(SOLVERS, "records-device", Records)
    scene, image, gt, coarse = query
    from gscpr.match import load_matcher

    r = refine_query(scene, image, CAM, coarse, load_matcher("xfeat", "cpu"),
                     RefineConfig(solver="records-device", recovery=(), iterations=1))  # fmt: skip
    assert r.status == Status.REFINED and seen == ["cpu"]
