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


def test_depth_eps_is_the_originals_normaliser_and_the_options_reach_the_rasterizer():
    g, cam, pose = scene(), Camera.centered(48, 36, 40.0), look_from(3.0)
    plain = render(g, cam, pose, backend="torch")
    orig = render(g, cam, pose, backend="torch", depth_eps=1e-6)
    # depth = sum(z a T) / (sum(a T) + eps): the accumulated z is depth * alpha in the default normalisation.
    a = plain.alpha
    expected = plain.depth * a / (a + 1e-6)
    torch.testing.assert_close(orig.depth, expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(orig.rgb, plain.rgb) and torch.equal(orig.alpha, plain.alpha)
    faint = (a > 0) & (a < 1e-3)
    if faint.any():  # where alpha is tiny the original's depth is visibly smaller
        assert (orig.depth[faint] < plain.depth[faint]).all()
    # The near plane and alpha cap change the render (a camera inside the cloud loses the Gaussians within 0.2).
    near = render(g, cam, look_from(1.0), backend="torch", near_plane=0.2)
    assert not torch.equal(near.alpha, render(g, cam, look_from(1.0), backend="torch").alpha)
    rng = np.random.default_rng(1)
    opaque = Gaussians.from_points(rng.normal(size=(50, 3)) * 0.3, rng.uniform(size=(50, 3)), 0.05, opacity=0.9999)
    full, capped = (render(opaque, cam, pose, backend="torch", alpha_cap=c) for c in (0.999, 0.99))
    assert not torch.equal(full.rgb, capped.rgb) and (1 - capped.alpha).max() >= (1 - full.alpha).max()
