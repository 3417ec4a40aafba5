"""CUDA-graph replay gives what the eager functions give (XFeat matching, the sub-pixel step); the CPU path
calls the function as it is. The CUDA tests run in the GPU job (benchmarks/gpu_job.sh agreement)."""

import numpy as np
import pytest
import torch

from gscpr.camera import Camera
from gscpr.cudagraph import GraphedFunction
from gscpr.match import load_matcher
from gscpr.match.base import Matches
from gscpr.match.subpixel import _align, refine_subpixel
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_cpu_calls_the_function():
    calls = []
    f = GraphedFunction(lambda x: (calls.append(1) or x * 2,))
    assert torch.equal(f(torch.ones(3))[0], torch.full((3,), 2.0)) and calls == [1]


@pytest.fixture(scope="module")
def pair():
    g = textured_room(seed=5)
    pose = pose_inside(np.random.default_rng(6))
    a = render(g, Camera(320, 240, 260.0, 260.0, 159.5, 119.5), pose, backend="torch").rgb[0]
    b = render(g, Camera(320, 240, 260.0, 260.0, 159.9, 119.2), pose, backend="torch").rgb[0]
    return a, b


@cuda
def test_graphed_calls_replay_with_new_inputs():
    f = GraphedFunction(lambda x: (x.sin() + 1,))
    for v in (0.3, 1.2, -2.0):  # the first call captures, the next ones replay on new values
        x = torch.full((5,), v, device="cuda")
        torch.testing.assert_close(f(x)[0], x.sin() + 1)
    assert len(f._graphs) == 1


@cuda
def test_xfeat_graph_equals_eager(pair):
    a, b = (t.cuda() for t in pair)
    graphed, eager = load_matcher("xfeat", "cuda"), load_matcher("xfeat", "cuda", cuda_graphs=False)
    for _ in range(2):
        m, e = graphed.match(a, b), eager.match(a, b)
        assert len(m) == len(e) > 100
        np.testing.assert_allclose(m.kpts0, e.kpts0, atol=1e-4)
        np.testing.assert_allclose(m.kpts1, e.kpts1, atol=1e-4)
    # A batch of three runs other convolution kernels: scores differ in the last bits and ties among them may
    # order (or, rarely, pick) keypoints differently, so compare the sets of matches.
    batch = graphed.match_batch([a, b, a], [b, a, b])
    rows = lambda m: {tuple(r) for r in np.round(np.hstack([m.kpts0, m.kpts1]), 2)}  # noqa: E731
    assert len(rows(batch[2]) & rows(e)) >= 0.98 * max(len(batch[2]), len(e))


@cuda
def test_subpixel_graph_equals_eager_and_cpu(pair):
    a, b = pair
    ys, xs = np.mgrid[20:220:12, 20:300:12]
    k0 = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)
    m = Matches(k0, k0.copy(), np.ones(len(k0)))
    on_gpu, moved = refine_subpixel(a.cuda(), b.cuda(), m, device="cuda")
    on_cpu, moved_cpu = refine_subpixel(a, b, m)
    assert moved.mean() > 0.7 and (moved == moved_cpu).mean() > 0.98
    both = moved & moved_cpu
    np.testing.assert_allclose(on_gpu.kpts1[both], on_cpu.kpts1[both], atol=2e-3)
    g0, g1 = a.cuda().mean(-1), b.cuda().mean(-1)
    t0 = torch.as_tensor(k0, dtype=torch.float32, device="cuda")
    eager = _align(g0, g1, t0, t0.clone(), 11, 3, 0.8, 6)
    torch.testing.assert_close(eager[0][eager[1]], torch.as_tensor(on_gpu.kpts1, device="cuda")[eager[1]].float())
