import cv2
import numpy as np
import pytest

from gscpr.camera import Camera, IntrinsicsError


def test_centered_principal_point_is_the_geometric_centre():
    cam = Camera.centered(640, 480, 525.0)
    assert (cam.cx, cam.cy) == (319.5, 239.5)
    assert cam.continuous_principal_point() == (320.0, 240.0)  # COLMAP / gsplat / Inria 3DGS "W/2"
    np.testing.assert_array_equal(cam.continuous_K(), [[cam.fx, 0, 320], [0, cam.fy, 240], [0, 0, 1]])
    np.testing.assert_array_equal(cam.K, [[525, 0, 319.5], [0, 525, 239.5], [0, 0, 1]])


def test_from_continuous_shifts_by_half_a_pixel():
    cam = Camera.from_continuous(100, 50, 80.0, 81.0, 50.0, 25.0)
    assert (cam.cx, cam.cy) == (49.5, 24.5)


def test_resize_keeps_rays_through_pixel_edges():
    # The image's left edge (-0.5 in index coordinates) must map to the left edge after any resize,
    # and the centre to the centre: this is what a naive K * scale gets wrong by half a pixel.
    cam = Camera(1920, 1080, 1600.0, 1600.0, 960.3, 540.2)
    small = cam.resized(854, 480)
    for x_big, x_small in [(-0.5, -0.5), (1919.5, 853.5)]:
        ray_big = (x_big - cam.cx) / cam.fx
        ray_small = (x_small - small.cx) / small.fx
        assert ray_small == pytest.approx(ray_big, rel=1e-12)
    assert small.fx == pytest.approx(1600.0 * 854 / 1920)
    assert small.fy == pytest.approx(1600.0 * 480 / 1080)
    back = small.resized(1920, 1080)
    assert back.cx == pytest.approx(cam.cx) and back.fx == pytest.approx(cam.fx)


def test_scaled_and_cropped():
    cam = Camera.centered(640, 480, 500.0)
    half = cam.scaled(0.5)
    assert half.size == (320, 240) and half.fx == 250.0 and (half.cx, half.cy) == (159.5, 119.5)
    crop = cam.cropped(left=20, top=10, width=600, height=460)
    assert crop.size == (600, 460) and (crop.cx, crop.cy) == (299.5, 229.5)


def test_project_unproject_round_trip():
    cam = Camera(320, 240, 300.0, 310.0, 160.2, 119.7)
    pts = np.random.default_rng(0).uniform([-1, -1, 1], [1, 1, 5], size=(100, 3))
    uv = cam.project(pts)
    np.testing.assert_allclose(cam.unproject(uv, pts[:, 2]), pts, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(width=0, height=480, fx=500, fy=500, cx=320, cy=240), "size"),
        (dict(width=640, height=480, fx=-1, fy=500, cx=320, cy=240), "focal"),
        (dict(width=640, height=480, fx=float("nan"), fy=500, cx=320, cy=240), "not finite"),
        (dict(width=640, height=480, fx=500, fy=500, cx=320000, cy=240), "outside"),
    ],
)
def test_wrong_intrinsics_are_rejected(kwargs, match):
    with pytest.raises(IntrinsicsError, match=match):
        Camera(**kwargs)


def test_from_K_validates_and_dict_round_trip():
    cam = Camera(64, 48, 50.0, 51.0, 31.5, 23.5, dist=(0.1, -0.01, 0.0, 0.0))
    assert Camera.from_K(cam.K, 64, 48, cam.dist) == cam
    assert Camera.from_dict(cam.to_dict()) == cam
    assert cam.has_distortion and not cam.without_distortion().has_distortion
    with pytest.raises(IntrinsicsError, match="3x3"):
        Camera.from_K(np.eye(4), 64, 48)
    K = cam.K
    K[0, 1] = 0.5  # skew is not supported by a pinhole Camera
    with pytest.raises(IntrinsicsError):
        Camera.from_K(K, 64, 48)


def test_fisheye_model_undistorts_points_and_images_to_the_pinhole_of_its_K():
    cam = Camera(64, 48, 30.0, 30.0, 31.5, 23.5, dist=(0.1, -0.05, 0.01, 0.0), dist_model="fisheye")
    pts = np.c_[np.random.default_rng(1).uniform(-0.7, 0.7, (30, 2)), np.ones(30)]
    seen = cv2.fisheye.distortPoints(pts[:, None, :2].copy(), cam.K, np.array(cam.dist)).reshape(-1, 2)
    np.testing.assert_allclose(cam.undistort_points(seen), cam.project(pts), atol=1e-6)
    # All-zero coefficients are the equidistant fisheye, not a pinhole: r = f * theta.
    equidistant = Camera(64, 48, 30.0, 30.0, 31.5, 23.5, dist=(0.0,) * 4, dist_model="fisheye")
    assert equidistant.has_distortion and not equidistant.without_distortion().has_distortion
    r = 30.0 * np.arctan(0.5)  # the ray (0.5, 0, 1) seen by the fisheye
    np.testing.assert_allclose(equidistant.undistort_points([[31.5 + r, 23.5]]), [[31.5 + 15.0, 23.5]], atol=1e-6)
    # The image: a white dot where the fisheye sees the ray lands where the pinhole sees it.
    image = np.zeros((48, 64), np.float32)
    u, v = np.rint(seen[0]).astype(int)
    image[v - 1 : v + 2, u - 1 : u + 2] = 1.0
    out = cam.undistort_image(image)
    ys, xs = np.mgrid[:48, :64]
    centroid = np.array([(xs * out).sum(), (ys * out).sum()]) / out.sum()
    assert np.hypot(*(centroid - cam.undistort_points([[u, v]])[0])) < 0.3
    assert Camera.from_dict(cam.to_dict()) == cam and "dist_model" not in equidistant.without_distortion().to_dict()
    with pytest.raises(IntrinsicsError, match="fisheye distortion takes 4 coefficients, got 2"):
        Camera(64, 48, 30.0, 30.0, 31.5, 23.5, dist=(0.1, 0.2), dist_model="fisheye")
    with pytest.raises(IntrinsicsError, match="unknown distortion model 'kb8'"):
        Camera(64, 48, 30.0, 30.0, 31.5, 23.5, dist_model="kb8")


@pytest.mark.parametrize(
    "dist, model", [((0.06, -0.08, -0.001, 0.0002), "opencv"), ((0.1, -0.05, 0.01, 0.0), "fisheye")]
)
def test_distort_points_is_the_inverse_of_undistort_points(dist, model):
    cam = Camera(64, 48, 40.0, 40.0, 31.5, 23.5, dist=dist, dist_model=model)
    pinhole = np.random.default_rng(2).uniform([4, 4], [60, 44], (40, 2))
    seen = cam.distort_points(pinhole)
    assert np.abs(seen - pinhole).max() > 0.1  # moved, and back
    np.testing.assert_allclose(cam.undistort_points(seen), pinhole, atol=1e-4)
    np.testing.assert_array_equal(cam.without_distortion().distort_points(pinhole), pinhole)
    v, u = np.mgrid[0:48, 0:64]
    grid = cam.distort_points(np.stack([u.ravel(), v.ravel()], axis=1)).reshape(48, 64, 2)
    np.testing.assert_allclose(cam.distortion_map(), grid, atol=1e-3)  # the same, for a whole image at once
    np.testing.assert_array_equal(cam.without_distortion().distortion_map(), np.stack([u, v], axis=-1))
