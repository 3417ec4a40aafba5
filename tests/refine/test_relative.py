"""GS-CPR_rel's step with MASt3R's pointmaps (refine/relative.py): the scale from the rendered depth at the
working size, the pose composed into the world frame, and every failure a status."""

import numpy as np

from gscpr.camera import Camera
from gscpr.geometry import pose_errors
from gscpr.match.base import Matches
from gscpr.refine.config import RefineConfig
from gscpr.refine.relative import solve_relative
from gscpr.refine.types import Render, Status
from gscpr.solvers import get_solver
from gscpr.synthetic import look_at_origin

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
