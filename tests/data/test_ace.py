import numpy as np
import pytest

from gscpr.data import DatasetError, read_ace_split
from gscpr.data.ace import read_calibration

from .fixtures import make_ace_scene


def test_reads_images_poses_and_per_image_focal(tmp_path):
    names = ["seq-01-frame-000000.color.png", "seq-01-frame-000001.color.png"]
    poses = make_ace_scene(tmp_path, names, focal=[525.5, 526.0])
    frames = read_ace_split(tmp_path, "test")
    assert [f.name for f in frames] == names
    for f in frames:
        np.testing.assert_allclose(f.pose, poses[f.name], atol=1e-12)  # stored c2w, returned w2c
        assert (f.camera.width, f.camera.height, f.camera.cx, f.camera.cy) == (64, 48, 31.5, 23.5)
    assert [f.camera.fx for f in frames] == [525.5, 526.0]


def test_cambridge_style_names_and_full_K(tmp_path):
    make_ace_scene(tmp_path, ["seq1_frame00001.png"], focal=400.0, pose_suffix=".txt", calib_suffix=".txt")
    (tmp_path / "test" / "calibration" / "seq1_frame00001.txt").write_text("400 0 30\n0 410 20\n0 0 1\n")
    cam = read_ace_split(tmp_path)[0].camera
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (400.0, 410.0, 30.0, 20.0)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        read_ace_split(tmp_path)
    make_ace_scene(tmp_path, ["a.png", "b.png"], focal=500.0)
    (tmp_path / "test" / "poses" / "b.pose.txt").unlink()
    with pytest.raises(DatasetError, match="no pose file for b.png"):
        read_ace_split(tmp_path)
    assert read_ace_split(tmp_path, with_poses=False)[1].pose is None
    (tmp_path / "test" / "poses" / "b.pose.txt").write_text("nan " * 16)
    with pytest.raises(DatasetError, match="b.pose.txt"):
        read_ace_split(tmp_path)
    bad = tmp_path / "c.txt"
    bad.write_text("-3")
    with pytest.raises(DatasetError, match="c.txt: focal length must be a positive"):
        read_calibration(bad, 64, 48)
    bad.write_text("1 2")
    with pytest.raises(DatasetError, match="one focal length or a 3x3"):
        read_calibration(bad, 64, 48)


def test_names_with_several_dots_keep_their_own_calibration_and_pose(tmp_path):
    names = ["frame.2024.01.01.color.png", "frame.2024.01.02.color.png"]
    poses = {}
    for i, (name, focal) in enumerate(zip(names, (500.0, 600.0), strict=True)):
        base = name.removesuffix(".color.png")  # frame.2024.01.01: what ACE-layout tools write for this name
        poses |= make_ace_scene(tmp_path, [name], focal=focal, seed=i)  # writes frame.calibration.txt, ...
        for folder, suffix in (("calibration", ".calibration.txt"), ("poses", ".pose.txt")):
            (tmp_path / "test" / folder / f"frame{suffix}").rename(tmp_path / "test" / folder / f"{base}{suffix}")
    frames = read_ace_split(tmp_path)
    assert [(f.name, f.camera.fx) for f in frames] == [(names[0], 500.0), (names[1], 600.0)]
    for f in frames:
        np.testing.assert_allclose(f.pose, poses[f.name], atol=1e-12)


def test_one_calibration_file_matched_by_two_images_is_an_error_naming_both(tmp_path):
    make_ace_scene(tmp_path, ["frame.a.png", "frame.b.png"], focal=500.0)  # both named "frame.*.txt" by the fixture
    with pytest.raises(
        DatasetError, match="frame.calibration.txt: the only match for both frame.a.png and frame.b.png"
    ):
        read_ace_split(tmp_path)


def test_a_broken_first_image_does_not_stop_the_split_from_loading(tmp_path):
    make_ace_scene(tmp_path, ["a.png", "b.png"], focal=500.0)
    (tmp_path / "test" / "rgb" / "a.png").write_bytes(b"\x89PNG broken")  # refused when its query is read
    assert [f.camera.size for f in read_ace_split(tmp_path)] == [(64, 48), (64, 48)]
