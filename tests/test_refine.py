"""End to end on the CPU: queries rendered at known poses of a generated scene, coarse poses perturbed by a
few degrees and centimetres, refined by rendering, matching, lifting and PnP."""

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.geometry import perturb_pose, pose_errors
from gscpr.match import load_matcher
from gscpr.match.base import Matcher, Matches
from gscpr.refine import (
    STAGES,
    RefineConfig,
    Refiner,
    Render,
    lift_keypoints,
    refine_batch,
    refine_query,
    refine_relative,
    spread_select,
)
from gscpr.solvers import get_solver
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room

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
        out.append((image, gt, perturb_pose(gt, ROT, TRANS, frame="world", rng=i)))
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
        assert r.num_inliers >= 30 and set(r.timings) == set(STAGES)
        errors.append(pose_errors(r.pose, gt))
    rot, trans = np.median(errors, axis=0)
    assert rot < 0.1 and trans < 0.01 * TRANS


def test_a_batch_refines_like_one_query_at_a_time(scene, queries):
    m = load_matcher("xfeat", "cpu")
    cfg = RefineConfig(ransac_px=1.0, iterations=2)
    images, gts, coarse = zip(*queries[:3], strict=True)
    coarse = [*coarse[:2], np.full((4, 4), np.nan), coarse[2]]  # a broken pose inside the batch
    images = [*images[:2], images[0], images[2]]
    batch = refine_batch(scene, images, [CAM] * 4, coarse, m, cfg)
    assert [r.status for r in batch] == ["refined", "refined", "bad_input", "refined"]
    for r, image, pose in zip(batch, images, coarse, strict=True):
        if r.ok:
            single = refine_query(scene, image, CAM, pose, m, cfg)
            np.testing.assert_allclose(r.pose, single.pose, atol=1e-6)
            assert r.num_inliers == single.num_inliers
    assert all(r.confirmed for r in batch if r.ok)  # the second pass found the pose again
    for r, gt in zip([batch[0], batch[1], batch[3]], gts, strict=True):
        rot, trans = pose_errors(r.pose, gt)
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


class Raises(Matcher):
    def _match(self, a, b):
        raise RuntimeError("out of memory")


def test_failures_keep_the_coarse_pose_and_say_why(scene, queries):
    image, gt, coarse = queries[0]
    r = refine_query(scene, image, CAM, coarse, NoMatches("cpu"))
    assert r.status == "too_few_matches" and np.array_equal(r.pose, coarse)
    empty = Render(image, np.zeros((240, 320)), np.zeros((240, 320)), CAM)  # a render with no depth anywhere
    r = Refiner(None, load_matcher("sift", "cpu")).refine(image, CAM, coarse, render=empty)
    assert r.status == "too_few_valid_depth" and np.array_equal(r.pose, coarse)
    r = refine_query(scene, image, CAM, coarse, OnePixel("cpu"), RefineConfig(subpixel=False))
    assert r.status in ("pnp_failed", "too_few_inliers") and np.array_equal(r.pose, coarse)
    r = refine_query(None, image, CAM, coarse, NoMatches("cpu"))  # no model and no render on disk
    assert r.status == "render_failed" and np.array_equal(r.pose, coarse)
    # The relative variant takes the same road: the same statuses, never an exception.
    r = refine_relative(scene, image, CAM, coarse, OnePixel("cpu"), RefineConfig(subpixel=False, recovery=()))
    assert r.status in ("relative_pose_failed", "too_few_inliers") and np.array_equal(r.pose, coarse)
    r = refine_relative(scene, image, CAM, coarse, Raises("cpu"))
    assert r.status == "too_few_matches" and "matcher failed" in r.message and np.array_equal(r.pose, coarse)
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
        est = get_solver(solver).solve(p2d, p3d, CAM, RefineConfig(solver=solver).pose_solver_options())
        T, inliers = est.pose, est.inliers
        rot, trans = pose_errors(T, pose)
        assert inliers.all() and rot < 1e-4 and trans < 1e-5, solver


def test_spread_select_keeps_the_best_matches_across_the_whole_view():
    rng = np.random.default_rng(0)
    crowd = rng.uniform(0, 40, (900, 2))  # a textured corner ...
    rest = rng.uniform(0, 1, (300, 2)) * [640, 480]  # ... and matches all over the view
    kpts, scores = np.concatenate([crowd, rest]), rng.random(1200)
    idx = spread_select(kpts, scores, 200, (640, 480))
    assert len(set(idx)) == 200 and np.all(np.diff(idx) > 0)
    assert (idx < 900).sum() <= 10  # the corner gives a handful, not most
    cells = {(int(x // 40), int(y // 30)) for x, y in kpts[idx]}
    assert len(cells) > 120  # spread over the 16 x 16 cells
    assert set(spread_select(kpts, scores, 5000, (640, 480))) == set(range(1200))


def test_recovery_renders_find_a_scene_the_coarse_camera_turned_away_from():
    """An object seen from outside, the coarse camera turned 28° away so that the render at the coarse pose barely
    holds it: the first pass fails, a render with a twice larger canvas (same focal length) still sees the object
    and the refinement recovers; without recovery the coarse pose is kept."""
    from gscpr.geometry import axis_angle_to_rotmat, camera_center, make_pose
    from gscpr.refine import recovery_camera
    from gscpr.synthetic import look_at_origin

    box = textured_room(n_side=24, half=0.5)
    cam = Camera.centered(160, 160, 220.0)  # 40° field of view; the box spans 19° of it from 3 units
    gt = look_at_origin(np.random.default_rng(2), distance=3.0)
    R = axis_angle_to_rotmat(np.radians(28.0) * np.array([0.0, 1.0, 0.0])) @ gt[:3, :3]  # turned about y
    coarse = make_pose(R, -R @ camera_center(gt))
    image = render(box, cam, gt, backend="torch").rgb[0].numpy()
    matcher = load_matcher("xfeat", "cpu")
    plain = refine_query(box, image, cam, coarse, matcher, RefineConfig(recovery=(), iterations=2))
    assert plain.status != "refined" and np.array_equal(plain.pose, coarse)
    r = refine_query(box, image, cam, coarse, matcher, RefineConfig(iterations=2))
    assert r.status == "refined" and "recovered" in r.message and np.array_equal(r.coarse, coarse)
    rot, trans = pose_errors(r.pose, gt)
    assert rot < 0.1 and trans < 0.005
    wide = recovery_camera(cam, 2.0, 1.0)
    assert wide.size == (320, 320) and wide.fx == cam.fx and (wide.cx, wide.cy) == (cam.cx + 80, cam.cy + 80)
    assert recovery_camera(cam, 1.0, 0.5).fx == cam.fx / 2


def test_a_failed_later_pass_keeps_the_refinement_and_says_so(scene, queries):
    image, gt, coarse = queries[0]
    xfeat = load_matcher("xfeat", "cpu")

    class FirstPassOnly(Matcher):
        """XFeat on the first call, nothing after: the render at the refined pose 'does not match'."""

        calls = 0

        def match(self, image0, image1):
            self.calls += 1
            return xfeat.match(image0, image1) if self.calls == 1 else Matches.empty()

    r = refine_query(scene, image, CAM, coarse, FirstPassOnly("cpu"), RefineConfig(iterations=3, recovery=()))
    assert r.status == "refined" and r.iterations == 1
    assert r.message == "pass 2, at the refined pose: too_few_matches"
    assert r.confirmed is False  # a field: reports count these without reading the message
    assert pose_errors(r.pose, gt)[0] < pose_errors(coarse, gt)[0]


def test_render_scale_renders_and_matches_at_a_fraction_of_the_query_size(scene, queries):
    """render_scale 0.5: a half-size render, matched and aligned against the query resized to it (one scale in
    both images), keypoints mapped back to the full-size query for PnP; single and batched. (Before, the
    full-size query was matched against the half-size render and nothing refined.)"""
    matcher = load_matcher("xfeat", "cpu")
    cfg = RefineConfig(render_scale=0.5, iterations=2, recovery=())
    for image, gt, coarse in queries[:2]:
        r = refine_query(scene, image, CAM, coarse, matcher, cfg)
        assert r.status == "refined" and r.render_rgb.shape[:2] == (CAM.height // 2, CAM.width // 2)
        assert r.matches.kpts1[:, 0].max() > CAM.width / 2  # query keypoints in full-size pixels
        rot, trans = pose_errors(r.pose, gt)
        assert rot < 0.15 and trans < 0.006  # full size: 0.01° (sub-pixel alignment at the render's scale)
    batch = refine_batch(scene, [q[0] for q in queries[:2]], [CAM] * 2, np.stack([q[2] for q in queries[:2]]),
                         matcher, cfg)  # fmt: skip
    for r, (_, gt, _) in zip(batch, queries[:2], strict=True):
        assert r.status == "refined" and pose_errors(r.pose, gt)[0] < 0.15
