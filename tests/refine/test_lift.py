"""Lifting render keypoints with the rendered depth: the original's pixel lookup and principal point."""

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.refine.lift import lift_keypoints, solve_camera

W, H = 8, 6
CAM = Camera.centered(W, H, 10.0)


def coded_depth() -> np.ndarray:
    """Depth whose value names its pixel: row y, column x -> 1 + y + x / 10."""
    y, x = np.mgrid[0:H, 0:W]
    return 1.0 + y + x / 10.0


def test_floor_is_the_originals_lookup_row_y_column_x():
    # The original indexes its per-pixel scene coordinates [:, y, x] with keypoints truncated to integers:
    # keypoint (x, y) = (2.7, 3.9) reads row 3, column 2; "nearest" rounds to row 4, column 3.
    k = np.array([[2.7, 3.9], [0.0, 0.0], [7.99, 5.99], [5.5, 1.5]])
    depth = coded_depth()
    p, valid = lift_keypoints(k, depth, None, CAM, np.eye(4), sampling="floor")
    assert valid.all()
    np.testing.assert_allclose(p[:, 2], [1 + 3 + 0.2, 1.0, 1 + 5 + 0.7, 1 + 1 + 0.5])
    p, valid = lift_keypoints(k, depth, None, CAM, np.eye(4), sampling="nearest")
    assert valid.tolist() == [True, True, False, True]  # (7.99, 5.99) rounds to column 8, outside the image
    np.testing.assert_allclose(p[:, 2], [1 + 4 + 0.3, 1.0, 1 + 2 + 0.6])
    # Integer keypoints (what the original's MASt3R mapping gives) read the same pixel either way.
    ints = np.array([[3.0, 2.0], [6.0, 4.0]])
    a = lift_keypoints(ints, depth, None, CAM, np.eye(4), sampling="floor")[0]
    b = lift_keypoints(ints, depth, None, CAM, np.eye(4), sampling="nearest")[0]
    np.testing.assert_array_equal(a, b)


def test_floor_drops_pixels_with_no_depth_and_keypoints_outside():
    depth = coded_depth()
    depth[3, 2] = 0.0  # the original lifts this to the camera centre; here it is dropped
    k = np.array([[2.7, 3.9], [-0.5, 1.0], [8.0, 1.0], [1.0, 1.0]])
    _, valid = lift_keypoints(k, depth, None, CAM, np.eye(4), sampling="floor")
    assert valid.tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match="sampling"):
        lift_keypoints(k, depth, None, CAM, np.eye(4), sampling="cubic")


def test_half_size_principal_point_is_the_originals_K():
    # Camera.centered puts the principal point at ((W-1)/2, (H-1)/2) in pixel indices (W/2 continuous, where
    # the renders have it); the original computes with cx, cy = W/2, H/2 on pixel indices.
    assert (CAM.cx, CAM.cy) == (3.5, 2.5)
    half = solve_camera(CAM, "half-size")
    assert (half.cx, half.cy, half.fx, half.size) == (4.0, 3.0, 10.0, (W, H))
    assert solve_camera(CAM, "camera") is CAM
    with pytest.raises(ValueError, match="principal_point"):
        solve_camera(CAM, "centre")
    # Lifting pixel (4, 3) with the original's K puts it on the optical axis; with the camera's, half a pixel off.
    k = np.array([[4.0, 3.0]])
    p = lift_keypoints(k, np.full((H, W), 2.0), None, half, np.eye(4), sampling="floor")[0]
    np.testing.assert_allclose(p, [[0.0, 0.0, 2.0]])
    p = lift_keypoints(k, np.full((H, W), 2.0), None, CAM, np.eye(4), sampling="floor")[0]
    np.testing.assert_allclose(p, [[0.5 / 10 * 2, 0.5 / 10 * 2, 2.0]])
