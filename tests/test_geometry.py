import numpy as np
import pytest

from gscpr.geometry import (
    OPENGL_TO_OPENCV,
    axis_angle_to_rotmat,
    c2w_to_w2c,
    camera_center,
    check_pose,
    check_rotation,
    invert_pose,
    make_pose,
    opencv_w2c_to_opengl_c2w,
    opengl_c2w_to_opencv_w2c,
    perturb_pose,
    pose_errors,
    pose_to_qt,
    project_to_so3,
    qt_to_pose,
    qvec_to_rotmat,
    rotation_angle_deg,
    rotmat_to_qvec,
)


def random_rotations(n: int, seed: int = 0) -> np.ndarray:
    return qvec_to_rotmat(np.random.default_rng(seed).normal(size=(n, 4)))


def test_quaternion_round_trip_and_sign():
    q = np.random.default_rng(1).normal(size=(500, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    np.testing.assert_allclose(rotmat_to_qvec(qvec_to_rotmat(q)), q, atol=1e-12)
    assert np.all(rotmat_to_qvec(qvec_to_rotmat(-q))[:, 0] >= 0)  # q and -q are the same rotation


def test_quaternion_convention_is_w_first_and_right_handed():
    # 90 degrees about z: (w, x, y, z) = (cos 45, 0, 0, sin 45) maps x to y.
    R = qvec_to_rotmat([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-15)


def test_rotations_near_180_degrees_convert_stably():
    for axis in np.eye(3):
        R = axis_angle_to_rotmat(axis * np.pi)
        np.testing.assert_allclose(qvec_to_rotmat(rotmat_to_qvec(R)), R, atol=1e-12)
        assert rotation_angle_deg(R) == pytest.approx(180.0)


def test_unnormalised_quaternion_is_normalised():
    q = np.array([0.9, 0.1, -0.2, 0.3])
    np.testing.assert_allclose(qvec_to_rotmat(3.0 * q), qvec_to_rotmat(q), atol=1e-15)


@pytest.mark.parametrize("q", [[0, 0, 0, 0], [np.nan, 0, 0, 1], [1, 0, 0]])
def test_bad_quaternions_raise(q):
    with pytest.raises(ValueError):
        qvec_to_rotmat(q)


def test_small_rotation_angles_are_accurate():
    # arccos((tr - 1) / 2) loses all precision below ~1e-4 degrees; the error metric must not.
    for deg in [1e-6, 1e-3, 0.5, 90.0, 179.9]:
        R = axis_angle_to_rotmat(np.radians(deg) * np.array([0.6, 0.0, 0.8]))
        assert rotation_angle_deg(R) == pytest.approx(deg, rel=1e-9)


def test_project_to_so3_fixes_noisy_matrices_and_reflections_are_rejected():
    R = random_rotations(10)
    noisy = R + 1e-4 * np.random.default_rng(2).normal(size=R.shape)
    P = project_to_so3(noisy)
    np.testing.assert_allclose(P @ np.swapaxes(P, -1, -2), np.broadcast_to(np.eye(3), P.shape), atol=1e-12)
    np.testing.assert_allclose(P, R, atol=1e-3)
    check_rotation(noisy)  # near-orthonormal is accepted
    with pytest.raises(ValueError, match="reflection"):
        check_rotation(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="not a rotation"):
        check_rotation(2.0 * np.eye(3))
    with pytest.raises(ValueError, match="not finite"):
        check_rotation(np.full((3, 3), np.nan))


def test_check_pose_rejects_bad_last_row():
    T = np.eye(4)
    T[3, 0] = 1.0
    with pytest.raises(ValueError, match="last row"):
        check_pose(T)


def test_invert_pose_and_camera_center():
    rng = np.random.default_rng(3)
    T = make_pose(random_rotations(20), rng.normal(size=(20, 3)))
    np.testing.assert_allclose(invert_pose(T) @ T, np.broadcast_to(np.eye(4), T.shape), atol=1e-12)
    # The camera centre maps to the camera-frame origin.
    c = camera_center(T)
    cam = (T[:, :3, :3] @ c[:, :, None])[..., 0] + T[:, :3, 3]
    np.testing.assert_allclose(cam, 0.0, atol=1e-12)
    np.testing.assert_allclose(invert_pose(T)[:, :3, 3], c, atol=1e-12)


def test_qt_pose_round_trip():
    rng = np.random.default_rng(4)
    T = make_pose(random_rotations(5), rng.normal(size=(5, 3)))
    q, t = pose_to_qt(T)
    np.testing.assert_allclose(qt_to_pose(q, t), T, atol=1e-12)


def test_opengl_conversion_blender_camera_looks_at_origin():
    # A Blender camera at (0, -4, 0) looking at the origin: its -z axis points along +y, up is +z.
    c2w_gl = np.array([[1, 0, 0, 0], [0, 0, -1, -4], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)
    w2c = opengl_c2w_to_opencv_w2c(c2w_gl)
    origin_cam = w2c[:3, :3] @ np.zeros(3) + w2c[:3, 3]
    assert origin_cam[2] == pytest.approx(4.0)  # in front of the OpenCV camera (z forward)
    np.testing.assert_allclose(origin_cam[:2], 0.0, atol=1e-12)
    up_world = w2c[:3, :3] @ np.array([0, 0, 1.0])  # world up must point to image -y (y is down)
    np.testing.assert_allclose(up_world, [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(opencv_w2c_to_opengl_c2w(w2c), c2w_gl, atol=1e-12)
    np.testing.assert_allclose(OPENGL_TO_OPENCV @ OPENGL_TO_OPENCV, np.eye(4))


def test_c2w_to_w2c_accepts_3x4_and_rejects_non_rotations():
    c2w = make_pose(random_rotations(1)[0], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(c2w_to_w2c(c2w[:3]), invert_pose(c2w), atol=1e-12)
    bad = c2w.copy()
    bad[:3, :3] *= 1.5
    with pytest.raises(ValueError, match="not a rotation"):
        c2w_to_w2c(bad)


def test_pose_errors_measure_angle_and_centre_distance():
    R = axis_angle_to_rotmat(np.radians(10.0) * np.array([0.0, 1.0, 0.0]))
    # A camera at (-1, 0, 0) turned by 10 degrees about its own centre: t changes, the centre does not.
    T = make_pose(np.eye(3), [1.0, 0.0, 0.0])
    turned = make_pose(R, -R @ np.array([-1.0, 0.0, 0.0]))
    rot, trans = pose_errors(turned, T)
    assert rot == pytest.approx(10.0) and trans == pytest.approx(0.0, abs=1e-12)
    moved = make_pose(np.eye(3), [1.0, 0.3, -0.4])  # centre moved by (0, -0.3, 0.4): 0.5 away
    rot, trans = pose_errors(moved, T)
    assert rot == pytest.approx(0.0, abs=1e-12) and trans == pytest.approx(0.5)


def test_pose_errors_accept_slightly_non_orthonormal_rotations():
    T = make_pose(random_rotations(1)[0], [0.1, 0.2, 0.3])
    noisy = T.copy()
    noisy[:3, :3] *= 1.0 + 1e-4  # e.g. a regressed rotation
    rot, trans = pose_errors(noisy, T)
    assert rot < 1e-6 and trans < 1e-9


@pytest.mark.parametrize("rot_deg,trans", [(0.0, 0.0), (5.0, 0.05), (30.0, 0.6), (179.0, 2.0)])
def test_perturb_pose_gives_exact_errors(rot_deg, trans):
    rng = np.random.default_rng(5)
    T = make_pose(random_rotations(50), rng.normal(size=(50, 3)))
    P = perturb_pose(T, rot_deg, trans, frame="world", rng=7)
    rot, dist = pose_errors(P, T)
    np.testing.assert_allclose(rot, rot_deg, atol=1e-9)
    np.testing.assert_allclose(dist, trans, atol=1e-12)


def test_perturb_pose_is_seeded_and_random_in_direction():
    T = np.broadcast_to(np.eye(4), (100, 4, 4))
    a, b, c = (
        perturb_pose(T, 5.0, 0.1, frame="world", rng=1),
        perturb_pose(T, 5.0, 0.1, frame="world", rng=1),
        perturb_pose(T, 5.0, 0.1, frame="world", rng=2),
    )
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Directions are spread over the sphere: the mean offset of 100 centres is far below their length.
    assert np.linalg.norm(camera_center(a).mean(axis=0)) < 0.05


def test_perturb_pose_per_item_magnitudes():
    T = np.broadcast_to(np.eye(4), (3, 4, 4))
    P = perturb_pose(T, np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3]), frame="world", rng=0)
    rot, trans = pose_errors(P, T)
    np.testing.assert_allclose(rot, [1, 2, 3], atol=1e-9)
    np.testing.assert_allclose(trans, [0.1, 0.2, 0.3], atol=1e-12)


@pytest.mark.parametrize("frame", ["camera", "world"])
def test_perturb_pose_turns_about_an_axis_of_the_named_frame(frame):
    # A camera at (0, 0, -3) rolled by 90° about its viewing direction (camera z) first: camera x = world y.
    R_c2w = axis_angle_to_rotmat(np.radians(90.0) * np.array([0.0, 0.0, 1.0]))
    c = np.array([0.0, 0.0, -3.0])
    T = make_pose(R_c2w.T, -R_c2w.T @ c)
    x = np.array([1.0, 0.0, 0.0])
    P = perturb_pose(T, 10.0, 0.5, frame=frame, rot_axis=x, trans_axis=x)
    turn = axis_angle_to_rotmat(np.radians(10.0) * x)
    if frame == "camera":  # about the camera's x (world y), along the camera's x
        np.testing.assert_allclose(P[:3, :3].T, R_c2w @ turn, atol=1e-12)
        np.testing.assert_allclose(camera_center(P), c + [0.0, 0.5, 0.0], atol=1e-12)
    else:  # about the world's x, along the world's x
        np.testing.assert_allclose(P[:3, :3].T, turn @ R_c2w, atol=1e-12)
        np.testing.assert_allclose(camera_center(P), c + [0.5, 0.0, 0.0], atol=1e-12)
    rot, trans = pose_errors(P, T)
    assert rot == pytest.approx(10.0) and trans == pytest.approx(0.5)


@pytest.mark.parametrize("frame", ["camera", "world"])
def test_perturb_pose_signed_magnitudes_give_exact_errors(frame):
    rng = np.random.default_rng(2)
    T = make_pose(random_rotations(20), rng.normal(size=(20, 3)))
    rot_deg, trans = rng.uniform(-40, 40, 20), rng.uniform(-0.3, 0.3, 20)
    P = perturb_pose(T, rot_deg, trans, frame=frame, rng=3)
    rot, dist = pose_errors(P, T)
    np.testing.assert_allclose(rot, np.abs(rot_deg), atol=1e-9)
    np.testing.assert_allclose(dist, np.abs(trans), atol=1e-12)
    axis = np.array([0.0, 0.6, 0.8])
    minus = perturb_pose(T, -rot_deg, -trans, frame=frame, rot_axis=axis, trans_axis=axis)
    plus = perturb_pose(T, rot_deg, trans, frame=frame, rot_axis=-axis, trans_axis=-axis)
    np.testing.assert_allclose(minus, plus, atol=1e-12)


def test_perturb_pose_rejects_unnamed_frames_and_bad_axes():
    with pytest.raises(ValueError, match="frame"):
        perturb_pose(np.eye(4), 1.0, 0.1, frame="body")
    with pytest.raises(ValueError, match="unit"):
        perturb_pose(np.eye(4), 1.0, 0.1, frame="camera", rot_axis=[1.0, 1.0, 0.0], trans_axis=[1.0, 0.0, 0.0])
    with pytest.raises(TypeError):
        perturb_pose(np.eye(4), 1.0, 0.1, 0)  # the frame must be named
