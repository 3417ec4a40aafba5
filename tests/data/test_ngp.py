import json

import numpy as np
import pytest

from gscpr.data import DatasetError, load_ngp
from gscpr.geometry import opengl_c2w_to_opencv_w2c

from .fixtures import write_image

C2W = [[1, 0, 0, 0.5], [0, 0, -1, -3], [0, 1, 0, 0.2], [0, 0, 0, 1]]


def write_capture(root, n=10, missing=(3,), **intrinsics):
    frames = []
    for i in range(n):
        frames.append({"file_path": f"images/{i:04d}.jpg", "transform_matrix": C2W})
        if i not in missing:
            write_image(root / "images" / f"{i:04d}.jpg", 40, 30)
    frames[2]["fl_x"] = 99.0  # a per-frame override
    data = {"fl_x": 50.0, "fl_y": 51.0, "cx": 20.5, "cy": 15.0, "w": 40, "h": 30, "k1": 0.01, "k2": -0.02, "p1": 0.0,
            "p2": 0.001, **intrinsics, "frames": frames}  # fmt: skip
    (root / "transforms.json").write_text(json.dumps(data))


def test_intrinsics_distortion_overrides_and_holdout(tmp_path):
    write_capture(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 of 10"):
        frames = load_ngp(tmp_path, split=None)
    assert len(frames) == 9
    cam = frames[0].camera
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (50.0, 51.0, 20.0, 14.5)  # continuous -> index convention
    assert cam.dist == (0.01, -0.02, 0.0, 0.001)
    assert frames[2].camera.fx == 99.0
    np.testing.assert_allclose(frames[0].pose, opengl_c2w_to_opencv_w2c(np.array(C2W, float)))
    with pytest.warns(UserWarning):
        test = load_ngp(tmp_path, split="test", test_every=4)
    with pytest.warns(UserWarning):
        train = load_ngp(tmp_path, split="train", test_every=4)
    # Held out among the frames present (0003 is missing), in name order.
    assert [f.name for f in test] == ["images/0000.jpg", "images/0005.jpg", "images/0009.jpg"]
    assert len(train) == 6 and not {f.name for f in test} & {f.name for f in train}


def test_missing_intrinsics(tmp_path):
    write_capture(tmp_path, missing=())
    data = json.loads((tmp_path / "transforms.json").read_text())
    del data["w"]
    (tmp_path / "transforms.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="frame 0: missing intrinsic 'w'"):
        load_ngp(tmp_path)


def test_real_fox(shared_data):
    root = shared_data("instant_ngp_fox")
    with pytest.warns(UserWarning, match="skipped 17 of 67"):
        frames = load_ngp(root, split=None)
    assert len(frames) == 50 and frames[0].camera.size == (1080, 1920)
    assert frames[0].camera.has_distortion
    with pytest.warns(UserWarning):
        assert len(load_ngp(root, "test")) == 7  # every 8th of 50
