"""gpu-ransac: batched P3P hypotheses on a torch device (here the CPU), the same pose and inliers as PoseLib."""

import numpy as np
import pytest
import torch

from gscpr.camera import Camera
from gscpr.geometry import axis_angle_to_rotmat, make_pose, pose_errors
from gscpr.solvers import SolverOptions, get_solver
from gscpr.solvers.pnp_torch import p3p, sample_triplets

CAM = Camera.centered(1920, 1080, 1500.0)  # a 1080p phone-like camera
SMALL = {"device": "cpu", "chunk": 2048}  # modest chunks keep the CPU tests fast


def scene(n=1000, outliers=0.0, noise=0.5, seed=0):
    """Correspondences of a random w2c pose: points 2-8 units in front filling the image, ``noise`` px of
    Gaussian noise, a fraction ``outliers`` replaced by random pixels. Returns (pose, p2d, p3d, good)."""
    rng = np.random.default_rng(seed)
    pose = make_pose(axis_angle_to_rotmat(rng.normal(size=3)), rng.normal(size=3) * 2)
    depth = rng.uniform(2, 8, (n, 1))
    pix = rng.uniform([0, 0], [CAM.width - 1, CAM.height - 1], (n, 2))
    p_cam = np.column_stack([(pix - [CAM.cx, CAM.cy]) / [CAM.fx, CAM.fy], np.ones(n)]) * depth
    p3d = (p_cam - pose[:3, 3]) @ pose[:3, :3]
    p2d = CAM.project(p_cam) + rng.normal(scale=noise, size=(n, 2))
    bad = rng.permutation(n) < round(outliers * n)
    p2d[bad] = rng.uniform([0, 0], [CAM.width - 1, CAM.height - 1], size=(bad.sum(), 2))
    return pose, p2d, p3d, ~bad


def rays_of(p_cam):
    return p_cam / np.linalg.norm(p_cam, axis=-1, keepdims=True)


def test_p3p_returns_the_true_pose_among_its_solutions():
    rng = np.random.default_rng(0)
    s = 500
    R_true = axis_angle_to_rotmat(rng.normal(size=(s, 3)))
    t_true = rng.normal(size=(s, 3))
    p_cam = rng.uniform([-1, -1, 1], [1, 1, 6], size=(s, 3, 3))
    p_world = np.einsum("sji,skj->ski", R_true, p_cam - t_true[:, None])  # R^T (x_cam - t)
    R, t, valid = (a.numpy() for a in p3p(torch.tensor(rays_of(p_cam)), torch.tensor(p_world)))
    assert R.shape == (s, 4, 3, 3) and t.shape == (s, 4, 3) and valid.shape == (s, 4)
    assert np.isfinite(R).all() and np.isfinite(t).all() and valid.any(1).all()
    errors = pose_errors(make_pose(R, t), make_pose(R_true, t_true)[:, None])
    best = np.where(valid, errors[0] + errors[1], np.inf).min(1)
    assert np.mean(best < 1e-6) > 0.99 and np.all(best < 1e-2)
    # Every valid solution explains the three rays with positive depth.
    x = np.einsum("svij,skj->svki", R, p_world) + t[:, :, None]
    cosine = np.einsum("svki,ski->svk", x / np.linalg.norm(x, axis=-1, keepdims=True), rays_of(p_cam))
    assert np.all(cosine[valid] > 1 - 1e-9)


def test_degenerate_samples_give_no_pose_never_nan():
    rng = np.random.default_rng(1)
    p_cam = rng.uniform([-1, -1, 2], [1, 1, 4], size=(3, 3))
    line = np.outer([0.0, 1.0, 2.0], [1.0, 0.5, 0.2]) + [0, 0, 3]  # three collinear points
    samples = {
        "collinear": (rays_of(line), line),
        "duplicate": (rays_of(p_cam[[0, 0, 1]]), p_cam[[0, 0, 1]]),
        "one ray": (rays_of(np.tile(p_cam[:1], (3, 1))), p_cam),
        "zeros": (np.zeros((3, 3)), np.zeros((3, 3))),
    }
    rays = torch.tensor(np.stack([r for r, _ in samples.values()]))
    points = torch.tensor(np.stack([p for _, p in samples.values()]))
    R, t, valid = p3p(rays, points)
    assert not valid.any() and torch.isfinite(R).all() and torch.isfinite(t).all()


def test_samples_are_three_distinct_indices_drawn_uniformly():
    idx = sample_triplets(5, 20_000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert idx.shape == (20_000, 3) and idx.min() >= 0 and idx.max() < 5
    assert (idx[:, 0] != idx[:, 1]).all() and (idx[:, 0] != idx[:, 2]).all() and (idx[:, 1] != idx[:, 2]).all()
    counts = torch.bincount(idx.flatten(), minlength=5).double() / idx.numel()
    assert torch.allclose(counts, torch.full((5,), 0.2, dtype=torch.float64), atol=0.01)


@pytest.mark.parametrize(
    ("outliers", "n", "threshold"),
    [(0.1, 500, 2.0), (0.5, 1000, 2.0), (0.5, 1000, 1.0), (0.7, 1000, 2.0), (0.9, 1000, 2.0)],
)
def test_same_pose_and_inliers_as_poselib(outliers, n, threshold):
    pose, p2d, p3d, good = scene(n, outliers, noise=threshold / 4, seed=int(outliers * 10))
    options = SolverOptions(threshold_px=threshold, seed=1, backend=SMALL)
    ours = get_solver("gpu-ransac").solve(p2d, p3d, CAM, options)
    theirs = get_solver("poselib").solve(p2d, p3d, CAM, SolverOptions(threshold_px=threshold, seed=1))
    rot, centre = pose_errors(ours.pose, theirs.pose)  # the same final refinement on the same inliers
    assert rot < 1e-4 and centre < 1e-5  # degrees; the scene is 2-8 units deep
    rot, centre = pose_errors(ours.pose, pose)
    assert rot < 0.1 and centre < 0.02
    assert np.count_nonzero(ours.inliers != theirs.inliers) <= max(2, 0.01 * n)
    assert abs(ours.num_inliers - good.sum()) <= 0.02 * good.sum() + 2
    assert ours.info["device"] == "cpu" and ours.info["iterations"] >= 1


def test_the_stopping_rule_draws_more_samples_at_lower_inlier_ratios():
    options = SolverOptions(threshold_px=2.0, backend={**SMALL, "chunk": 8})  # chunks of 8 samples
    easy = get_solver("gpu-ransac").solve(*scene(500, 0.2)[1:3], CAM, options)
    hard = get_solver("gpu-ransac").solve(*scene(500, 0.6)[1:3], CAM, options)
    for est in (easy, hard):  # RANSAC's rule for confidence 0.9999, within the last chunk of 8
        needed = np.ceil(np.log(1e-4) / np.log(1 - est.info["inlier_ratio"] ** 3))
        assert needed <= est.info["iterations"] < needed + 8
    assert 10 < easy.info["iterations"] < 20 and 130 < hard.info["iterations"] < 160  # w ~ 0.8 and ~ 0.4
    capped = get_solver("gpu-ransac").solve(*scene(500, 0.6)[1:3], CAM, SolverOptions(max_iterations=5, backend=SMALL))
    assert capped is None or capped.info["iterations"] == 5


def test_same_seed_same_pose():
    _, p2d, p3d, _ = scene(800, 0.7, seed=3)
    solver = get_solver("gpu-ransac")
    a, b = (solver.solve(p2d, p3d, CAM, SolverOptions(seed=7, backend=SMALL)) for _ in range(2))
    assert np.array_equal(a.pose, b.pose) and np.array_equal(a.inliers, b.inliers) and a.info == b.info


@pytest.mark.parametrize("case", ["too few", "collinear", "all outliers", "not finite"])
def test_no_pose_for_degenerate_input_and_no_exception(case):
    rng = np.random.default_rng(0)
    _, p2d, p3d, _ = scene(300, outliers=1.0 if case == "all outliers" else 0.0)
    if case == "too few":
        p2d, p3d = p2d[:3], p3d[:3]
    elif case == "collinear":
        p3d = np.outer(rng.uniform(-1, 1, 300), [1.0, 2.0, 0.5]) + [0, 0, 5]
    elif case == "not finite":
        p3d[5] = np.nan
    options = SolverOptions(max_iterations=4096, backend=SMALL)
    assert get_solver("gpu-ransac").solve(p2d, p3d, CAM, options) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_gpu_finds_the_cpu_pose():
    _, p2d, p3d, _ = scene(2000, 0.9, seed=4)
    solver = get_solver("gpu-ransac")
    gpu = solver.solve(p2d, p3d, CAM, SolverOptions(backend={"device": "cuda"}))
    cpu = solver.solve(p2d, p3d, CAM, SolverOptions(backend=SMALL))
    assert gpu.info["device"].startswith("cuda") and max(pose_errors(gpu.pose, cpu.pose)) < 1e-3
