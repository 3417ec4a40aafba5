"""The generated scenes of gscpr.synthetic: the repeated-texture room repeats, and says so when it cannot."""

import numpy as np
import pytest
import torch

from gscpr.camera import Camera
from gscpr.geometry import make_pose
from gscpr.splat import render
from gscpr.synthetic import textured_room


def _facing_wall(x: float) -> np.ndarray:
    """A camera at ``(x, 0, 0.5)`` looking along +z at the wall ``z = 2`` (w2c ``[4, 4]``, OpenCV axes)."""
    return make_pose(np.eye(3), -np.array([x, 0.0, 0.5]))


def test_a_room_with_a_period_looks_the_same_one_period_along_x_and_different_elsewhere():
    room, cam = textured_room(period=1.0), Camera.centered(80, 60, 80.0)  # sees x in [-0.75, 0.75] of the wall
    here, period_on, half_on = (render(room, cam, _facing_wall(x), backend="torch").rgb[0] for x in (0.0, 1.0, 0.5))
    assert torch.allclose(here, period_on, atol=1e-4)
    assert (here - half_on).abs().mean() > 0.1
    plain = textured_room()  # no period: the same view one unit along x is another one
    a, b = (render(plain, cam, _facing_wall(x), backend="torch").rgb[0] for x in (0.0, 1.0))
    assert (a - b).abs().mean() > 0.1


def test_the_end_walls_do_not_repeat_and_a_period_off_the_grid_is_refused():
    room = textured_room(n_side=12, period=1.0)
    ends = room.means[:, 0].abs() > 1.999  # the walls at x = +-2
    assert len(torch.unique(room.sh[ends].reshape(int(ends.sum()), -1), dim=0)) == int(ends.sum())
    with pytest.raises(ValueError, match="period 0.5 is not a whole number"):
        textured_room(n_side=12, period=0.5)  # spacing 1/3
    with pytest.raises(ValueError, match="not a whole number"):
        textured_room(n_side=12, period=5.0)
