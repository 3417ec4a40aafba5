import numpy as np

from gscpr.camera import Camera
from gscpr.match.base import Matches
from gscpr.match.subpixel import refine_subpixel
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room


def test_recovers_a_subpixel_shift_and_leaves_bad_matches():
    g = textured_room(seed=2)
    pose = pose_inside(np.random.default_rng(4))
    a = render(g, Camera(160, 120, 130.0, 130.0, 79.5, 59.5), pose, backend="torch").rgb[0].numpy()
    b = render(g, Camera(160, 120, 130.0, 130.0, 79.8, 59.1), pose, backend="torch").rgb[0].numpy()  # +0.3, -0.4 px
    ys, xs = np.mgrid[20:100:10, 20:140:10]
    k0 = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)
    m = Matches(k0, k0.copy(), np.ones(len(k0)))  # integer positions: off by (0.3, -0.4) in image b
    refined, moved = refine_subpixel(a, b, m)
    err = refined.kpts1[moved] - (k0[moved] + [0.3, -0.4])
    assert moved.mean() > 0.7
    assert np.median(np.abs(err), axis=0).max() < 0.1
    wrong = Matches(k0[:5], k0[:5] + 40.0, np.ones(5))  # far outside the search window: nothing moves
    _, moved = refine_subpixel(a, b, wrong)
    assert not moved.any()
