"""The matcher registry: a new matcher is one class (``_match`` on two tensors) and one registry line."""

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.match import MATCHERS, Matcher, MatchError, Matches, load_matcher, register_matcher

CAM = Camera.centered(320, 240, 260.0)


class SameGrid(Matcher):
    """A dummy matcher: the same pixel grid in both images (right when the render is the query)."""

    name = "same-grid"

    def __init__(self, device=None, step: int = 16):
        super().__init__(device)
        self.step = step

    def _match(self, image0, image1):
        H, W = image0.shape[-2:]
        ys, xs = np.mgrid[8 : H : self.step, 8 : W : self.step]
        k = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
        return Matches(k, k.copy(), np.ones(len(k)))


def test_a_new_matcher_is_one_class_and_one_registry_line(monkeypatch):
    from gscpr.refine import RefineConfig, refine_query
    from gscpr.splat import render
    from gscpr.synthetic import pose_inside, textured_room

    monkeypatch.setitem(MATCHERS, "same-grid", (SameGrid, {"step": 20}))  # the registry line
    m = load_matcher("same-grid", "cpu")
    assert isinstance(m, SameGrid) and m.step == 20
    assert load_matcher("same-grid", "cpu", step=10).step == 10  # options over the registry's
    room = textured_room()
    gt = pose_inside(np.random.default_rng(1))
    image = render(room, CAM, gt, backend="torch").rgb[0].numpy()
    r = refine_query(room, image, CAM, gt, m, RefineConfig(subpixel=False, recovery=()))
    assert r.ok and r.num_matches == len(m.match(image, image))
    from gscpr.geometry import pose_errors

    rot, trans = pose_errors(r.pose, gt)
    assert rot < 1e-3 and trans < 1e-4


def test_registering_by_module_path_and_unknown_names():
    register_matcher("same-grid-2", "tests.match.test_registry:SameGrid", step=30)
    try:
        assert load_matcher("same-grid-2", "cpu").step == 30
    finally:
        del MATCHERS["same-grid-2"]
    with pytest.raises(MatchError, match="unknown matcher 'nope'.*xfeat"):
        load_matcher("nope")
