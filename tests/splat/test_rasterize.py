import math

import pytest
import torch

from gscpr.splat.rasterize import ALPHA_THRESHOLD, quat_scale_to_covar, rasterize_reference

W, H = 64, 48
K = torch.tensor([[[80.0, 0.0, 32.0], [0.0, 80.0, 24.0], [0.0, 0.0, 1.0]]])  # continuous convention
IDENTITY = torch.eye(4)[None]


def one(means, scale=0.05, opacity=0.9, color=(1.0, 0.5, 0.25), quat=(1.0, 0.0, 0.0, 0.0), dtype=torch.float64):
    n = len(means)
    return dict(
        means=torch.tensor(means, dtype=dtype),
        quats=torch.tensor([quat] * n, dtype=dtype),
        scales=torch.full((n, 3), scale, dtype=dtype)
        if not isinstance(scale, list)
        else torch.tensor(scale, dtype=dtype),
        opacities=torch.full((n,), opacity, dtype=dtype),
        colors=torch.tensor([color] * n, dtype=dtype),
    )


def rast(g, viewmats=IDENTITY, Ks=K, **kw):
    return rasterize_reference(
        **g, viewmats=viewmats.to(g["means"].dtype), Ks=Ks.to(g["means"].dtype), width=W, height=H, **kw
    )


def test_single_gaussian_lands_where_the_camera_model_says():
    # x = fx * X / Z + cx in the continuous convention; pixel (i, j) is sampled at (i + 0.5, j + 0.5).
    g = one([[0.25, -0.125, 2.0]], scale=0.01)
    img, alpha, meta = rast(g)
    u, v = 80 * 0.25 / 2 + 32, 80 * -0.125 / 2 + 24  # (42.0, 19.0)
    assert meta["means2d"][0, 0].tolist() == pytest.approx([u, v])
    # The footprint is point-symmetric about (42.0, 19.0), whose neighbouring pixel centres are 41.5/42.5
    # and 18.5/19.5: the peak lies among those four pixels, and opposite ones are equal.
    a = alpha[0, ..., 0]
    assert a.max() == a[18:20, 41:43].max()
    assert a[18, 41] == pytest.approx(a[19, 42].item(), rel=1e-12)
    assert a[18, 42] == pytest.approx(a[19, 41].item(), rel=1e-12)
    # Its centroid is exactly the projected mean.
    ys, xs = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    w = a.double()
    assert (w * xs).sum() / w.sum() == pytest.approx(u, abs=1e-6)
    assert (w * ys).sum() / w.sum() == pytest.approx(v, abs=1e-6)


def test_gaussian_footprint_follows_the_ewa_covariance_with_low_pass():
    # sigma_2d^2 = (f * s / z)^2 + 0.3 for an isotropic splat on the optical axis.
    s, z = 0.05, 2.0
    g = one([[0.0, 0.0, z]], scale=s, opacity=0.5)
    _, alpha, _ = rast(g)
    row = alpha[0, 24, :, 0]  # pixel centres y = 24.5, x = i + 0.5; the mean is at (32, 24)
    var = (80 * s / z) ** 2 + 0.3
    for i in [32, 34, 36]:
        dx, dy = i + 0.5 - 32, 0.5
        expected = 0.5 * math.exp(-0.5 * (dx * dx + dy * dy) / var)
        assert row[i].item() == pytest.approx(expected, rel=1e-9)


def test_depth_of_fronto_parallel_splat_equals_its_z():
    # A flat splat (tiny z scale) facing the camera, at any x/y: expected depth is exactly its z.
    g = one([[0.1, 0.05, 3.0]], scale=[[0.3, 0.3, 1e-6]], opacity=0.95)
    img, alpha, _ = rast(g, render_mode="RGB+ED")
    covered = alpha[0, ..., 0] > 0.05
    assert covered.sum() > 50
    assert torch.allclose(img[0, ..., 3][covered], torch.tensor(3.0, dtype=torch.float64), atol=1e-12)
    assert (img[0, ..., 3][alpha[0, ..., 0] == 0] == 0).all()  # 0 where nothing renders
    # "D" is the accumulated (alpha-weighted) depth; "ED" normalises it by alpha.
    d, a, _ = rast(g, render_mode="D")
    assert torch.allclose(d[0, ..., 0], 3.0 * a[0, ..., 0], atol=1e-12)


def test_front_to_back_compositing_and_background():
    # Two opaque-ish splats on the same ray: the near one (red) hides most of the far one (blue).
    near = one([[0.0, 0.0, 1.0]], scale=[[1.0, 1.0, 1e-4]], opacity=0.6, color=(1.0, 0.0, 0.0))
    far = one([[0.0, 0.0, 2.0]], scale=[[2.0, 2.0, 1e-4]], opacity=0.5, color=(0.0, 0.0, 1.0))
    g = {k: torch.cat([far[k], near[k]]) for k in near}  # input order must not matter: depth order does
    bg = torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64)
    img, alpha, _ = rast(g, backgrounds=bg, render_mode="RGB+ED")
    px = img[0, 24, 32]  # ~ on the axis: both Gaussians are at their peak (up to the half-pixel offset)
    a_near = 0.6 * math.exp(-0.5 * (0.5**2 + 0.5**2) / (80.0**2 + 0.3))
    a_far = 0.5 * math.exp(-0.5 * (0.5**2 + 0.5**2) / (80.0**2 + 0.3))
    T = (1 - a_near) * (1 - a_far)
    assert px[0].item() == pytest.approx(a_near, rel=1e-9)
    assert px[2].item() == pytest.approx((1 - a_near) * a_far, rel=1e-9)
    assert px[1].item() == pytest.approx(T, rel=1e-9)  # background weighted by the remaining transmittance
    assert alpha[0, 24, 32, 0].item() == pytest.approx(1 - T, rel=1e-9)
    expected_depth = (a_near * 1.0 + (1 - a_near) * a_far * 2.0) / (1 - T)
    assert px[3].item() == pytest.approx(expected_depth, rel=1e-9)  # depth gets no background


def test_saturated_pixel_stops_before_transmittance_reaches_1e_4():
    # 20 stacked splats of alpha 0.999-capped: after 1 the pixel has T = 1e-3, the 2nd would give 1e-6.
    n = 20
    g = one([[0.0, 0.0, 1.0 + 0.1 * i] for i in range(n)], scale=[[5.0, 5.0, 1e-4]] * n, opacity=1.0)
    g["colors"] = torch.linspace(0, 1, n, dtype=torch.float64)[:, None].repeat(1, 3)
    img, alpha, _ = rast(g)
    assert alpha[0, 24, 32, 0].item() == pytest.approx(0.999, abs=1e-6)
    assert img[0, 24, 32, 0].item() == pytest.approx(0.0, abs=1e-6)  # only the first (colour 0) counts


def test_culling_behind_camera_low_opacity_and_off_screen():
    g = one([[0.0, 0.0, -2.0], [0.0, 0.0, 0.005], [0.0, 0.0, 2.0], [50.0, 0.0, 2.0]], opacity=0.9)
    g["opacities"][2] = ALPHA_THRESHOLD * 0.99
    img, alpha, meta = rast(g)
    assert (meta["radii"][0] == 0).all()
    assert alpha.abs().max() == 0


def test_sh_colours_are_evaluated_from_the_camera_centre():
    from gscpr.splat.sh import rgb_to_sh, sh_to_color

    g = one([[0.0, 0.0, 2.0]], scale=0.2, opacity=0.99)
    sh = torch.zeros(1, 16, 3, dtype=torch.float64)
    sh[:, 0] = rgb_to_sh(torch.tensor([0.2, 0.4, 0.6], dtype=torch.float64))
    sh[:, 2, 0] = 0.3  # a degree-1 term along z: changes red when seen along +z
    sh[:, 9, 1] = 0.1  # degree 3: zero along the z axis for this basis function (y(3x^2 - y^2))
    g["colors"] = sh
    for degree in range(4):
        img, alpha, _ = rast(g, sh_degree=degree)
        a = alpha[0, 24, 32, 0]
        expected = sh_to_color(degree, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64), sh)[0]
        assert torch.allclose(img[0, 24, 32], a * expected, atol=1e-9)
    assert expected[0] == pytest.approx(0.2 + 0.3 * 0.4886025119029199)


def test_batched_cameras_and_per_camera_colors():
    torch.manual_seed(0)
    n = 200
    g = dict(
        means=torch.randn(n, 3) * 0.3 + torch.tensor([0.0, 0.0, 3.0]),
        quats=torch.randn(n, 4),
        scales=torch.rand(n, 3) * 0.05,
        opacities=torch.rand(n),
        colors=torch.rand(n, 3),
    )
    shift = torch.eye(4)
    shift[0, 3] = 0.1
    views = torch.stack([torch.eye(4), shift])
    both, alphas, _ = rasterize_reference(**g, viewmats=views, Ks=K.expand(2, 3, 3), width=W, height=H)
    for i in range(2):
        single, a, _ = rasterize_reference(**g, viewmats=views[i : i + 1], Ks=K, width=W, height=H)
        assert torch.equal(single[0], both[i]) and torch.equal(a[0], alphas[i])
    # Chunking the Gaussians within a tile does not change the result.
    small, _, _ = rasterize_reference(**g, viewmats=views, Ks=K.expand(2, 3, 3), width=W, height=H, chunk=7)
    assert torch.allclose(small, both, atol=1e-6)
    per_cam = torch.stack([g["colors"], 1 - g["colors"]])
    out, _, _ = rasterize_reference(**{**g, "colors": per_cam}, viewmats=views, Ks=K.expand(2, 3, 3), width=W, height=H)
    assert torch.allclose(out[0], both[0])


def test_gradients_flow_to_every_parameter():
    torch.manual_seed(1)
    n = 30
    g = dict(
        means=(torch.randn(n, 3) * 0.2 + torch.tensor([0.0, 0.0, 2.0])).requires_grad_(),
        quats=torch.randn(n, 4).requires_grad_(),
        scales=(torch.rand(n, 3) * 0.1 + 0.02).requires_grad_(),
        opacities=torch.rand(n).requires_grad_(),
        colors=torch.rand(n, 3).requires_grad_(),
    )
    img, alpha, _ = rasterize_reference(**g, viewmats=IDENTITY, Ks=K, width=W, height=H, render_mode="RGB+ED")
    (img.sum() + alpha.sum()).backward()
    for name, t in g.items():
        assert t.grad is not None and t.grad.abs().sum() > 0, name


def test_covariance_from_quaternion_and_scale():
    q = torch.tensor([[math.cos(math.pi / 8), 0.0, 0.0, math.sin(math.pi / 8)]], dtype=torch.float64)  # 45 deg about z
    cov = quat_scale_to_covar(q, torch.tensor([[2.0, 1.0, 0.5]], dtype=torch.float64))[0]
    assert torch.allclose(cov, torch.tensor([[2.5, 1.5, 0.0], [1.5, 2.5, 0.0], [0.0, 0.0, 0.25]], dtype=torch.float64))


def test_the_near_plane_drops_gaussians_at_or_in_front_of_it():
    # The Inria rasterizer GS-CPR renders with drops view depth <= 0.2; gsplat's default near plane is 0.01.
    for z, near, drawn in [(0.15, 0.01, True), (0.15, 0.2, False), (0.2, 0.2, False), (0.25, 0.2, True)]:
        img, alpha, meta = rast(one([[0.0, 0.0, z]], scale=0.002, opacity=0.9), near_plane=near)
        assert (alpha.max().item() > 0.5) == drawn, (z, near)
        assert bool(meta["radii"][0, 0].any()) == drawn


def test_the_alpha_cap_limits_one_gaussian_and_lets_the_ones_behind_show():
    # Opaque red in front of half-transparent green, both centred on pixel (31, 23) (sampled at (31.5, 23.5)):
    # the pixel is red * cap + green * 0.5 * (1 - cap) and keeps a transmittance of 0.5 * (1 - cap).
    g = one([[0.0, 0.0, 2.0], [0.0, 0.0, 3.0]], scale=0.2, opacity=1.0)
    g["opacities"][1] = 0.5
    g["colors"] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    for i, z in enumerate((2.0, 3.0)):
        g["means"][i, 0], g["means"][i, 1] = (31.5 - 32) * z / 80, (23.5 - 24) * z / 80
    for cap in (0.999, 0.99):
        img, alpha, _ = rast(g, alpha_cap=cap)
        px = img[0, 23, 31]
        assert px[0].item() == pytest.approx(cap, abs=1e-12)
        assert px[1].item() == pytest.approx(0.5 * (1 - cap), abs=1e-12)  # 10x more green at the Inria cap
        assert 1 - alpha[0, 23, 31, 0].item() == pytest.approx(0.5 * (1 - cap), abs=1e-12)
    # Below the cap nothing changes: a half-transparent Gaussian renders the same under both caps.
    h = one([[0.0, 0.0, 2.0]], scale=0.05, opacity=0.5)
    assert torch.equal(rast(h, alpha_cap=0.99)[0], rast(h, alpha_cap=0.999)[0])
