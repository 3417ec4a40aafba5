"""The solver registry: every registered solver answers in one calling shape; a new one is a class plus a line."""

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.geometry import make_pose, pose_errors
from gscpr.solvers import (
    SOLVERS,
    AbsolutePoseSolver,
    Estimate,
    SolverOptions,
    canonical_solver_name,
    get_solver,
    register_solver,
    solver_names,
)

CAM = Camera.centered(320, 240, 260.0)


def scene(n=200, outliers=0.0, seed=0):
    """Correspondences of a known w2c pose: points 2-4 units in front, a fraction replaced by random pixels."""
    rng = np.random.default_rng(seed)
    R = make_pose(np.eye(3), np.zeros(3))[:3, :3]
    pose = make_pose(R, [0.1, -0.2, 0.3])
    p_cam = rng.uniform([-1, -1, 2], [1, 1, 4], size=(n, 3))
    p3d = (p_cam - pose[:3, 3]) @ pose[:3, :3]
    p2d = CAM.project(p_cam)
    bad = rng.random(n) < outliers
    p2d[bad] = rng.uniform([0, 0], [320, 240], size=(bad.sum(), 2))
    return pose, p2d, p3d, ~bad


@pytest.mark.parametrize("name", solver_names("absolute"))
def test_every_absolute_solver_finds_the_pose_among_outliers(name):
    pose, p2d, p3d, good = scene(outliers=0.3)
    est = get_solver(name).solve(p2d, p3d, CAM, SolverOptions(threshold_px=1.0, seed=1))
    rot, trans = pose_errors(est.pose, pose)
    assert rot < 1e-3 and trans < 1e-3, name
    assert est.num_inliers >= good.sum() - 2 and not est.inliers[~good].any()


def test_degenerate_input_gives_no_pose_not_an_exception():
    p2d = np.tile([[160.0, 120.0]], (50, 1))
    p3d = np.tile([[0.0, 0.0, 3.0]], (50, 1))
    for name in solver_names("absolute"):
        for n in (2, 50):  # too few points; all on one ray
            est = get_solver(name).solve(p2d[:n], p3d[:n], CAM)
            assert est is None or n == 50, name
    assert get_solver("essential").solve(p2d[:3], p2d[:3], CAM, CAM) is None
    # Fifty matches on one pixel (plus two more) satisfy any essential matrix: no pose, not an arbitrary one.
    few = np.vstack([p2d, [[10.0, 20.0], [300.0, 200.0]]])
    assert get_solver("essential").solve(few, few + 0.5, CAM, CAM) is None


def test_the_relative_solver_gives_the_direction_of_a_known_motion():
    rng = np.random.default_rng(0)
    p_ref = rng.uniform([-1, -1, 2], [1, 1, 4], size=(150, 3))  # points in the reference camera's frame
    T = make_pose(np.eye(3), [0.3, 0.0, 0.05])  # reference -> query
    p_q = p_ref + T[:3, 3]
    est = get_solver("essential").solve(CAM.project(p_q), CAM.project(p_ref), CAM, CAM)
    t = T[:3, 3] / np.linalg.norm(T[:3, 3])
    assert np.linalg.norm(est.pose[:3, 3] - t) < 1e-3 and pose_errors(est.pose, np.eye(4))[0] < 1e-2


def test_aliases_kinds_and_unknown_names():
    assert canonical_solver_name("paper") == "opencv-epnp"
    assert "paper" in solver_names("absolute") and "essential" not in solver_names("absolute")
    with pytest.raises(ValueError, match="unknown pose solver 'ransac9'.*poselib"):
        get_solver("ransac9")
    with pytest.raises(ValueError, match="relative pose solver"):
        get_solver("essential", "absolute")


def test_backend_options_are_passed_through_unchanged():
    pose, p2d, p3d, _ = scene(outliers=0.5, seed=2)
    # PoseLib's own option, not one of the generic ones: one hypothesis cannot find the pose among 50 % outliers.
    one = SolverOptions(threshold_px=1.0, backend={"ransac": {"max_iterations": 1, "min_iterations": 0}})
    est = get_solver("poselib").solve(p2d, p3d, CAM, one)
    assert est is None or pose_errors(est.pose, pose)[0] > 1e-3 or est.info["iterations"] == 1
    assert get_solver("poselib").resolved(SolverOptions()).min_iterations == 20
    assert get_solver("opencv-epnp").resolved(SolverOptions()).max_iterations == 2000  # the original's


class ReturnsTheTruth(AbsolutePoseSolver):
    """A dummy solver: one file's worth of code."""

    name = "oracle"
    truth = np.eye(4)

    def _solve(self, points2d, points3d, camera, options):
        return Estimate(self.truth.copy(), np.ones(len(points2d), bool), {"threshold": options.threshold_px})


def test_a_new_solver_is_one_class_and_one_registry_line(monkeypatch):
    from gscpr.geometry import perturb_pose
    from gscpr.match import load_matcher
    from gscpr.refine import RefineConfig, refine_query
    from gscpr.splat import render
    from gscpr.synthetic import pose_inside, textured_room

    monkeypatch.setitem(SOLVERS, "oracle", ReturnsTheTruth)  # the registry line
    assert "oracle" in solver_names("absolute")
    pose, p2d, p3d, _ = scene()
    ReturnsTheTruth.truth = pose
    est = get_solver("oracle").solve(p2d, p3d, CAM, SolverOptions(threshold_px=3.0))
    assert np.allclose(est.pose, pose) and est.info == {"threshold": 3.0}
    # The whole refinement takes it by name.
    room = textured_room()
    gt = pose_inside(np.random.default_rng(0))
    image = render(room, CAM, gt, backend="torch").rgb[0].numpy()
    ReturnsTheTruth.truth = gt
    r = refine_query(room, image, CAM, perturb_pose(gt, 2.0, 0.02, frame="world", rng=0), load_matcher("xfeat", "cpu"),
                     RefineConfig(solver="oracle", recovery=()))  # fmt: skip
    assert r.ok and np.allclose(r.pose, gt, atol=1e-12)
    register_solver("oracle2", "tests.solvers.test_registry:ReturnsTheTruth")  # or by "module:Class"
    try:
        assert type(get_solver("oracle2")) is ReturnsTheTruth
    finally:
        del SOLVERS["oracle2"]
