"""The ``mast3r-pair`` relative solver (GS-CPR_rel as published: DUSt3R's PairViewer on MASt3R's pointmaps)
on exact pointmaps of a generated scene."""

import numpy as np
import pytest

from gscpr.geometry import make_pose, pose_errors
from gscpr.solvers import get_solver, solver_names
from gscpr.solvers.relative_mast3r import estimate_focal

from .pair_fixtures import plane_hits, plane_pair


def rotation(axis, deg):
    import cv2

    return cv2.Rodrigues(np.asarray(axis, float) / np.linalg.norm(axis) * np.deg2rad(deg))[0]


T01 = make_pose(rotation([0.2, 1.0, 0.1], 6.0), np.array([0.15, -0.03, 0.05]))


def test_registered_as_a_relative_solver_of_pointmaps():
    solver = get_solver("mast3r-pair", "relative")
    assert solver.inputs == "pointmaps" and get_solver("essential").inputs == "correspondences"
    assert "mast3r-pair" in solver_names("relative")
    with pytest.raises(TypeError, match="solve_pointmaps"):
        solver.solve(np.zeros((8, 2)), np.zeros((8, 2)), None, None)


def test_focal_from_a_pointmap():
    _, own = plane_hits(T01, 420.0, (128, 96))
    assert abs(estimate_focal(own) - 420.0) < 1e-6


@pytest.mark.parametrize("confident", [0, 1])
def test_relative_pose_and_depth_from_either_reference(confident):
    """Whichever edge is the more confident (the frame the pair is expressed in), the answer is the transform
    camera 0 -> camera 1 in the pointmaps' units and camera 0's depth map."""
    scale = 0.5  # MASt3R's units: half a metre
    pair = plane_pair(T01, scale=scale, confident=confident)
    est = get_solver("mast3r-pair").solve_pointmaps(pair)
    assert est.info["reference"] == confident
    expected = T01.copy()
    expected[:3, 3] *= scale
    rot, trans = pose_errors(est.pose, expected)
    assert rot < 1e-3 and trans < 1e-5
    np.testing.assert_allclose(est.info["depth0"], pair.pts_self[0][..., 2], rtol=1e-4)
    assert est.num_inliers > 0.99 * len(est.inliers)


def test_no_pose_is_reported_as_none_not_the_identity():
    pair = plane_pair(T01)
    for c in (*pair.conf_self, *pair.conf_other):
        c[:] = 2.0  # nothing above DUSt3R's confidence threshold of 3
    assert get_solver("mast3r-pair").solve_pointmaps(pair) is None
    flat = plane_pair(T01)
    for p in (*flat.pts_self, *flat.pts_other):
        p[:] = 0.0
    assert get_solver("mast3r-pair").solve_pointmaps(flat) is None
