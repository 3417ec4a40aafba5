"""End to end on the CPU: queries rendered at known poses of a generated scene, coarse poses perturbed by a
few degrees and centimetres, refined by rendering, matching, lifting and PnP."""

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.geometry import perturb_pose, pose_errors
from gscpr.match import load_matcher
from gscpr.match.base import Matcher, Matches
from gscpr.refine import RefineConfig, lift_keypoints, refine_query, refine_relative, solve_pnp
from gscpr.splat import render

from .scenes import pose_inside, textured_room

CAM = Camera.centered(320, 240, 260.0)
ROT, TRANS = 3.0, 0.05


@pytest.fixture(scope="module")
def scene():
    return textured_room()


@pytest.fixture(scope="module")
def queries(scene):
    rng = np.random.default_rng(0)
    out = []
    for i in range(4):
        gt = pose_inside(rng)
        image = render(scene, CAM, gt, backend="torch").rgb[0].numpy()
        out.append((image, gt, perturb_pose(gt, ROT, TRANS, rng=i)))
    return out


@pytest.mark.parametrize(
    "matcher,solver,n",
    [("xfeat", "poselib", 4), ("sift", "poselib", 4), ("xfeat", "pycolmap", 2), ("lightglue", "poselib", 2)],
)
def test_refinement_recovers_the_pose(scene, queries, matcher, solver, n):
    m = load_matcher(matcher, "cpu")
    cfg = RefineConfig(solver=solver, ransac_px=1.0, iterations=3)
    errors = []
    for image, gt, coarse in queries[:n]:
        r = refine_query(scene, image, CAM, coarse, m, cfg)
        assert r.ok, r.status
        assert r.num_inliers >= 30 and set(r.timings) == {"render", "match", "lift", "pnp"}
        errors.append(pose_errors(r.pose, gt))
    rot, trans = np.median(errors, axis=0)
    assert rot < 0.1 and trans < 0.01 * TRANS


def test_paper_solver_and_the_relative_variant_improve_the_pose(scene, queries):
    m = load_matcher("xfeat", "cpu")
    for image, gt, coarse in queries[:2]:
        r = refine_query(scene, image, CAM, coarse, m, RefineConfig(solver="paper", ransac_px=1.0))
        rot, trans = pose_errors(r.pose, gt)
        assert r.ok and rot < 0.3 and trans < 0.2 * TRANS
        rel = refine_relative(scene, image, CAM, coarse, m, RefineConfig(ransac_px=1.0))
        rot, trans = pose_errors(rel.pose, gt)  # a world pose (not the render-frame one), closer than the coarse
        assert rel.ok and rot < 0.5 * ROT and trans < TRANS


def test_lifting_drops_empty_and_transparent_pixels():
    depth = np.full((10, 10), 2.0)
    depth[:, 5:] = 0.0
    alpha = np.ones((10, 10))
    alpha[0:3] = 0.2
    k = np.array([[2.0, 5.0], [7.0, 5.0], [2.0, 1.0], [4.5, 5.0], [2.3, 6.7]])
    p, valid = lift_keypoints(k, depth, alpha, Camera.centered(10, 10, 10.0), np.eye(4))
    assert valid.tolist() == [True, False, False, False, True]  # no depth, low alpha, straddles the edge
    np.testing.assert_allclose(p[:, 2], 2.0)
    _, valid = lift_keypoints(k, depth, alpha, Camera.centered(10, 10, 10.0), np.eye(4), sampling="nearest")
    assert valid.tolist() == [True, False, False, True, True]


class NoMatches(Matcher):
    def _match(self, a, b):
        return Matches.empty()


class OnePixel(Matcher):
    """Degenerate geometry: every match at the same pixel."""

    def _match(self, a, b):
        k = np.tile([[160.0, 120.0]], (50, 1))
        return Matches(k, k, np.ones(50))


def test_failures_keep_the_coarse_pose_and_say_why(scene, queries):
    image, gt, coarse = queries[0]
    r = refine_query(scene, image, CAM, coarse, NoMatches("cpu"))
    assert r.status == "too_few_matches" and np.array_equal(r.pose, coarse)
    empty = (image, np.zeros((240, 320)), np.zeros((240, 320)), CAM)  # a render with no depth anywhere
    r = refine_query(None, image, CAM, coarse, load_matcher("sift", "cpu"), rendered=empty)
    assert r.status == "too_few_valid_depth" and np.array_equal(r.pose, coarse)
    r = refine_query(scene, image, CAM, coarse, OnePixel("cpu"), RefineConfig(subpixel=False))
    assert r.status in ("pnp_failed", "too_few_inliers") and np.array_equal(r.pose, coarse)
    r = refine_query(None, image, CAM, coarse, NoMatches("cpu"))  # no model and no render on disk
    assert r.status == "render_failed" and np.array_equal(r.pose, coarse)
    bad = coarse.copy()
    bad[0, 3] = np.nan
    r = refine_query(scene, image, CAM, bad, NoMatches("cpu"))
    assert r.status == "bad_input" and "finite" in r.message


def test_pnp_with_perfect_correspondences_is_exact():
    rng = np.random.default_rng(3)
    pose = pose_inside(rng)
    p_cam = rng.uniform([-1, -1, 2], [1, 1, 4], size=(100, 3))
    p3d = (p_cam - pose[:3, 3]) @ pose[:3, :3]
    p2d = CAM.project(p_cam)
    for solver in ("poselib", "pycolmap", "paper"):
        T, inliers = solve_pnp(p2d, p3d, CAM, RefineConfig(solver=solver))
        rot, trans = pose_errors(T, pose)
        assert inliers.all() and rot < 1e-4 and trans < 1e-5, solver
