"""GS-CPR_rel's step with MASt3R's pointmaps (refine/relative.py): the scale from the rendered depth at the
working size, the pose composed into the world frame, and every failure a status."""

import numpy as np

from gscpr.camera import Camera
from gscpr.geometry import perturb_pose, pose_errors
from gscpr.match.base import Matches
from gscpr.refine import refine_relative
from gscpr.refine.config import RefineConfig
from gscpr.refine.relative import solve_relative
from gscpr.refine.types import Render, Status
from gscpr.solvers import get_solver
from gscpr.splat import render
from gscpr.synthetic import look_at_origin, mirrored_x, pose_inside

from ..solvers.pair_fixtures import plane_hits, plane_pair
from ..solvers.test_relative_mast3r import T01

FULL, WORK, F_FULL = (640, 480), (512, 384), 500.0


def step(pair, depth):
    render = Render(np.zeros((480, 640, 3)), depth, None, Camera.centered(*FULL, F_FULL))
    coarse = look_at_origin(np.random.default_rng(0))
    cfg = RefineConfig(relative=True, relative_solver="mast3r-pair", min_inliers=1)
    timings = dict.fromkeys(("render", "match", "subpixel", "lift", "pnp"), 0.0)
    matches = Matches.empty(pair)  # the pointmaps, not the matches, give the pose
    return solve_relative(matches, render, None, coarse, get_solver("mast3r-pair"), cfg, timings), coarse, timings


def test_world_pose_with_the_rendered_depth_scale():
    """Pointmaps in MASt3R's units (0.37 m) and a metric rendered depth at 640x480: the pose is the query's
    world-to-camera pose in metres (the original wrote the render-frame pose)."""
    s = WORK[0] / FULL[0]
    pair = plane_pair(T01, focals=(F_FULL * s, 450.0), size=WORK, scale=1 / 0.37)
    depth = plane_hits(np.eye(4), F_FULL, FULL)[1][..., 2]
    p, coarse, timings = step(pair, depth)
    assert p.status == Status.REFINED and p.num_inliers > 0 and timings["pnp"] > 0
    rot, trans = pose_errors(p.pose, T01 @ coarse)
    assert rot < 1e-3 and trans < 1e-3 * np.linalg.norm(T01[:3, 3])


def test_failures_are_statuses_never_a_silent_pose():
    pair = plane_pair(T01, size=WORK)
    depth = plane_hits(np.eye(4), F_FULL, FULL)[1][..., 2]
    render = Render(np.zeros((480, 640, 3)), depth, None, Camera.centered(*FULL, F_FULL))
    cfg = RefineConfig(relative=True, relative_solver="mast3r-pair")
    p = solve_relative(Matches.empty(), render, None, np.eye(4), get_solver("mast3r-pair"), cfg, {})
    assert p.status == Status.RELATIVE_POSE_FAILED and "pairwise pointmaps" in p.message
    for c in (*pair.conf_self, *pair.conf_other):
        c[:] = 1.5
    assert step(pair, depth)[0].status == Status.RELATIVE_POSE_FAILED
    no_depth = step(plane_pair(T01, size=WORK), np.zeros((480, 640)))[0]  # the original would take a scale of 1
    assert no_depth.status == Status.TOO_FEW_VALID_DEPTH


def test_the_relative_variant_is_verified_as_the_absolute_one_is(room, xfeat):
    """GS-CPR_rel (essential matrix from XFeat's matches) on the generated room: a right pose is refined with a
    high confidence; in the mirrored room the pose it solves ends unverified, the coarse pose kept, the solved one
    kept beside it."""
    cam = Camera.centered(320, 240, 260.0)
    gt = pose_inside(np.random.default_rng(1))
    image = render(room, cam, gt, backend="torch").rgb[0].numpy()
    coarse = perturb_pose(gt, 3.0, 0.05, frame="world", rng=1)
    cfg = RefineConfig(ransac_px=1.0, recovery=())
    right = refine_relative(room, image, cam, coarse, xfeat, cfg)
    assert right.status == Status.REFINED and right.confidence > 0.9 and right.solved is None
    assert right.verify["variant"] == "relative" and 0 < right.verify["inlier_ratio"] < 1  # inliers over matches
    assert right.timings["verify"] > 0 and pose_errors(right.pose, gt)[0] < 2.0
    wrong = refine_relative(mirrored_x(room), image, cam, coarse, xfeat, cfg)
    assert wrong.status == Status.UNVERIFIED and wrong.confidence < 0.3 and "verification: confidence" in wrong.message
    np.testing.assert_array_equal(wrong.pose, coarse)
    assert wrong.solved is not None and pose_errors(wrong.solved, gt)[0] > 1.0
