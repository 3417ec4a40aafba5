import numpy as np
import pytest
import torch

from gscpr.camera import Camera
from gscpr.geometry import make_pose
from gscpr.splat import Gaussians, render
from gscpr.splat.render import resolve_backend


def scene(n=300, seed=0) -> Gaussians:
    rng = np.random.default_rng(seed)
    return Gaussians.from_points(rng.normal(size=(n, 3)) * 0.3, rng.uniform(size=(n, 3)), 0.03, opacity=0.8)


def look_from(z: float) -> np.ndarray:
    return make_pose(np.eye(3), [0.0, 0.0, z])


def test_render_shapes_background_and_depth():
    g = scene()
    cam = Camera.centered(48, 32, 40.0)
    out = render(g, cam, np.stack([look_from(3.0), look_from(4.0)]), background=(1.0, 0.0, 1.0), backend="torch")
    assert out.rgb.shape == (2, 32, 48, 3) and out.depth.shape == (2, 32, 48) and out.alpha.shape == (2, 32, 48)
    empty = out.alpha < 1e-6
    assert empty.any() and (~empty).any()
    assert torch.allclose(out.rgb[empty], torch.tensor([1.0, 0.0, 1.0]))
    assert (out.depth[empty] == 0).all()
    solid = out.alpha > 0.9
    # Scene points lie within ~1 unit of the origin: depths from 3 and 4 units away.
    assert 2.0 < out.depth[0][solid[0]].median() < 4.0 and 3.0 < out.depth[1][solid[1]].median() < 5.0
    assert out.depth[1][solid[1]].median() > out.depth[0][solid[0]].median()


def test_principal_point_convention_shifts_the_image():
    # Moving cx by one pixel moves the render by exactly one pixel.
    g = scene()
    pose = look_from(3.0)
    a = render(g, Camera(48, 32, 40.0, 40.0, 23.5, 15.5), pose, backend="torch")
    b = render(g, Camera(48, 32, 40.0, 40.0, 24.5, 15.5), pose, backend="torch")
    assert torch.allclose(a.rgb[0, :, 10:40], b.rgb[0, :, 11:41], atol=1e-5)


def test_width_height_override_rescales_the_camera():
    g = scene()
    cam = Camera.centered(96, 64, 80.0)
    small = render(g, cam, look_from(3.0), width=48, height=32, backend="torch")
    direct = render(g, cam.resized(48, 32), look_from(3.0), backend="torch")
    assert torch.equal(small.rgb, direct.rgb)


def test_bad_inputs():
    g = scene(n=10)
    cam = Camera.centered(16, 16, 20.0)
    with pytest.raises(ValueError, match="non-finite"):
        render(g, cam, np.full((4, 4), np.nan), backend="torch")
    with pytest.raises(ValueError, match=r"\[B, 4, 4\]"):
        render(g, cam, np.eye(3), backend="torch")
    with pytest.raises(ValueError, match="2 cameras for 1 poses"):
        render(g, [cam, cam], look_from(2.0), backend="torch")
    with pytest.raises(ValueError, match="same size"):
        render(g, [cam, Camera.centered(8, 8, 10.0)], np.stack([look_from(2.0)] * 2), backend="torch")
    with pytest.raises(ValueError, match="unknown render backend"):
        resolve_backend("vulkan", torch.device("cpu"))
    with pytest.raises(RuntimeError, match="CUDA"):
        resolve_backend("gsplat", torch.device("cpu"))
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
