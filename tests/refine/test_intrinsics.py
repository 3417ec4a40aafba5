"""The run-level check of the intrinsics (gscpr.refine.intrinsics): a focal-length bias over many queries."""

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.refine.intrinsics import camera_key, focal_check


def test_symmetric_scatter_is_not_suspect_however_many_queries():
    rng = np.random.default_rng(0)
    for n in (11, 40, 400):
        check = focal_check(rng.normal(0.0, 0.03, n))  # right intrinsics: noisy fits of either sign
        assert not check.suspect and check.queries == n and abs(check.median) < 0.01


def test_a_bias_of_one_sign_is_suspect_and_said_in_one_line():
    rng = np.random.default_rng(1)
    check = focal_check(rng.normal(-0.06, 0.02, 30))  # a focal length 20 % too long: the fits pull it back
    assert check.suspect and check.median < -0.01 and check.same_sign >= 28 and check.p_value < 1e-3
    message = check.message()
    assert "shorter" in message and "30 refined queries" in message and "\n" not in message
    assert "longer" in focal_check([0.05] * 12).message()


def test_it_needs_eleven_queries_of_one_sign_and_a_bias_beyond_one_percent():
    assert not focal_check([-0.05] * 10).suspect  # 10 of 10: p = 0.002, not below 0.001
    assert focal_check([-0.05] * 11).suspect
    assert not focal_check([-0.005] * 50).suspect  # one-signed but 0.5 %: within what right intrinsics give
    assert not focal_check([]).suspect and focal_check([None, float("nan")]).queries == 0
    with pytest.raises(ValueError):
        focal_check([0.1], alpha=0.0)


def test_cameras_with_other_intrinsics_are_checked_apart():
    a = Camera.centered(640, 480, 500.0)
    assert camera_key(a) == camera_key(Camera.centered(640, 480, 500.0))
    assert camera_key(a) != camera_key(Camera.centered(640, 480, 600.0))
    assert camera_key(a) != camera_key(Camera(640, 480, 500.0, 500.0, 320.0, 240.0, (0.1, 0.0, 0.0, 0.0)))
