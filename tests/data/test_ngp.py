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


def fisheye_capture(root, **intrinsics):
    write_image(root / "images" / "0.jpg", 40, 30)
    data = {"fl_x": 20.0, "fl_y": 21.0, "cx": 20.0, "cy": 15.0, "w": 40, "h": 30, "k1": 0.05, "k2": -0.01,
            "k3": 0.002, "k4": -0.001, **intrinsics,
            "frames": [{"file_path": "images/0.jpg", "transform_matrix": C2W}]}  # fmt: skip
    (root / "transforms.json").write_text(json.dumps(data))


@pytest.mark.parametrize("flag", [{"is_fisheye": True}, {"camera_model": "OPENCV_FISHEYE"}])
def test_fisheye_cameras_keep_the_fisheye_model(tmp_path, flag):
    fisheye_capture(tmp_path, **flag)
    cam = load_ngp(tmp_path, split=None)[0].camera
    assert cam.dist_model == "fisheye" and cam.dist == (0.05, -0.01, 0.002, -0.001)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (20.0, 21.0, 19.5, 14.5)


def test_camera_models_and_coefficients_that_do_not_fit_are_refused(tmp_path):
    fisheye_capture(tmp_path, camera_model="OPENCV")  # k4 is no OpenCV coefficient
    with pytest.raises(DatasetError, match="frame 0: k4 set for a non-fisheye \\(OpenCV\\) camera"):
        load_ngp(tmp_path, split=None)
    fisheye_capture(tmp_path, camera_model="OPENCV_FISHEYE", p1=0.01)
    with pytest.raises(DatasetError, match="frame 0: p1 set for a fisheye camera"):
        load_ngp(tmp_path, split=None)
    fisheye_capture(tmp_path, camera_model="EQUIRECTANGULAR")
    with pytest.raises(DatasetError, match="camera_model 'EQUIRECTANGULAR' is not supported \\(supported: OPENCV, "):
        load_ngp(tmp_path, split=None)
    fisheye_capture(tmp_path, camera_model="OPENCV", k4=0.0)  # nerfstudio's OPENCV with k3
    assert load_ngp(tmp_path, split=None)[0].camera.dist == (0.05, -0.01, 0.0, 0.0, 0.002)


def test_windows_backslashes_in_file_path_are_folder_separators(tmp_path):
    write_image(tmp_path / "images" / "sub" / "0001.jpg", 40, 30)
    frames = [{"file_path": "images\\sub\\0001.jpg", "transform_matrix": C2W}]
    (tmp_path / "transforms.json").write_text(json.dumps({"camera_angle_x": 1.0, "w": 40, "h": 30, "frames": frames}))
    (frame,) = load_ngp(tmp_path, split=None)
    assert frame.name == "images/sub/0001.jpg" and frame.image_path == tmp_path / "images" / "sub" / "0001.jpg"


def test_two_frames_of_one_image_are_an_error_naming_both(tmp_path):
    write_image(tmp_path / "images" / "0001.jpg", 40, 30)
    frames = [{"file_path": p, "transform_matrix": C2W} for p in ("images/0001.jpg", "./images\\0001.jpg")]
    (tmp_path / "transforms.json").write_text(json.dumps({"camera_angle_x": 1.0, "w": 40, "h": 30, "frames": frames}))
    with pytest.raises(DatasetError, match=r"frames 0 and 1 are both image .*0001.jpg \('images/0001.jpg', "):
        load_ngp(tmp_path, split=None)
