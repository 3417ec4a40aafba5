import numpy as np
import pytest

from gscpr.data import DatasetError, load_12scenes, load_12scenes_original
from gscpr.data.twelvescenes import read_info, read_split
from gscpr.geometry import invert_pose
from gscpr.poses import write_matrix_pose

from .fixtures import make_ace_scene, random_pose, write_image

INFO = """m_versionNumber = 4
m_sensorName = StructureSensor
m_colorWidth = 64
m_colorHeight = 48
m_depthWidth = 64
m_depthHeight = 48
m_depthShift = 1000
m_calibrationColorIntrinsic = 58 0 31 0 0 57 23.5 0 0 0 1 0 0 0 0 1
m_calibrationColorExtrinsic = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1
"""


def make_original_scene(root, n=5, n_test=2, inf_frames=(1,)):
    rng = np.random.default_rng(1)
    (root / "info.txt").write_text(INFO)
    (root / "split.txt").write_text(f"sequence0 [frames={n_test}]  [start=0 ; end={n_test - 1}]\n")
    poses = {}
    for i in range(n):
        write_image(root / "data" / f"frame-{i:06d}.color.jpg", 64, 48)
        pose_file = root / "data" / f"frame-{i:06d}.pose.txt"
        if i in inf_frames:
            pose_file.write_text("-inf -inf -inf -inf\n" * 4)
        else:
            poses[f"frame-{i:06d}.color.jpg"] = random_pose(rng)
            write_matrix_pose(pose_file, invert_pose(poses[f"frame-{i:06d}.color.jpg"]))
    return poses


def test_original_layout_split_and_invalid_frames(tmp_path):
    poses = make_original_scene(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 test frame"):
        test = load_12scenes_original(tmp_path, "test")
    train = load_12scenes_original(tmp_path, "train")
    assert [f.name for f in test] == ["frame-000000.color.jpg"]
    assert [f.name for f in train] == ["frame-000002.color.jpg", "frame-000003.color.jpg", "frame-000004.color.jpg"]
    assert test[0].meta["skipped_invalid"] == 1
    for f in test + train:
        np.testing.assert_allclose(f.pose, poses[f.name], atol=1e-12)
    cam = test[0].camera
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (58.0, 57.0, 30.5, 23.0)  # continuous -> index convention


def test_info_and_split_parsing_errors(tmp_path):
    (tmp_path / "info.txt").write_text("m_colorWidth = 10\n")
    with pytest.raises(DatasetError, match="info.txt: missing or malformed colour calibration"):
        read_info(tmp_path / "info.txt")
    (tmp_path / "split.txt").write_text("sequence0\n")
    with pytest.raises(DatasetError, match=r"split.txt: expected '\[frames=N\]'"):
        read_split(tmp_path / "split.txt")


def test_ace_layout(tmp_path):
    poses = make_ace_scene(
        tmp_path, ["frame-000000.color.jpg", "frame-000001.color.jpg"], focal=1167.8, size=(1296, 968)
    )
    frames = load_12scenes(tmp_path)
    assert [f.camera.size for f in frames] == [(1296, 968)] * 2
    np.testing.assert_allclose(frames[1].pose, poses["frame-000001.color.jpg"], atol=1e-12)
