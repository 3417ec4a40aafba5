import numpy as np
import pytest

from gscpr.data import DatasetError, load_7scenes, load_7scenes_original
from gscpr.data.sevenscenes import read_split_file, scene_dir
from gscpr.geometry import invert_pose
from gscpr.poses import read_matrix_pose, write_matrix_pose

from .fixtures import make_ace_scene, random_pose, write_image


def test_ace_layout_scene(tmp_path):
    root = scene_dir(tmp_path, "chess")
    assert root.name == "pgt_7scenes_chess" and scene_dir(tmp_path, "chess", poses="calibrated").name == "7scenes_chess"
    poses = make_ace_scene(root, ["seq-03-frame-000000.color.png"], focal=526.22, size=(640, 480))
    (f,) = load_7scenes(root)
    np.testing.assert_allclose(f.pose, poses[f.name], atol=1e-12)
    assert (f.camera.fx, f.camera.cx, f.camera.cy) == (526.22, 319.5, 239.5)
    with pytest.raises(DatasetError, match="unknown 7-Scenes scene"):
        scene_dir(tmp_path, "kitchen")


def test_original_layout_with_crlf_split_files(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "TestSplit.txt").write_bytes(b"sequence2\r\nsequence10\r\n")
    poses = {}
    for seq in ("seq-02", "seq-10"):
        for i in range(2):
            write_image(tmp_path / seq / f"frame-{i:06d}.color.png", 320, 240)
            poses[f"{seq}-frame-{i:06d}.color.png"] = random_pose(rng)
            write_matrix_pose(
                tmp_path / seq / f"frame-{i:06d}.pose.txt", invert_pose(poses[f"{seq}-frame-{i:06d}.color.png"])
            )
    frames = load_7scenes_original(tmp_path, "test")
    assert [f.name for f in frames] == list(poses)
    for f in frames:
        np.testing.assert_allclose(f.pose, poses[f.name], atol=1e-12)
        assert f.camera.fx == 262.5  # 525 at 640 px wide, scaled to 320
    assert frames[0].meta["original_name"] == "seq-02/frame-000000.color.png"
    with pytest.raises(DatasetError, match="TrainSplit.txt: no such split file"):
        load_7scenes_original(tmp_path, "train")
    (tmp_path / "TrainSplit.txt").write_text("seq1\n")
    with pytest.raises(DatasetError, match="TrainSplit.txt:1: expected 'sequenceN'"):
        read_split_file(tmp_path / "TrainSplit.txt")


def test_real_kapture_sample(shared_data):
    root = shared_data("7scenes_kapture_sample", "stairs")
    test, train = load_7scenes_original(root, "test"), load_7scenes_original(root, "train")
    assert len(test) + len(train) == 12
    assert {f.name[:6] for f in test} | {f.name[:6] for f in train} == {"seq-01", "seq-02", "seq-03", "seq-04"}
    f = test[0]
    assert f.image_path.suffix == ".jpg" and f.camera.size == (640, 480)
    stored = read_matrix_pose(root / f.meta["original_name"].replace("color.jpg", "pose.txt"))
    # KinectFusion rotations are orthonormal to ~1e-4 only; ours are projected onto SO(3).
    np.testing.assert_allclose(invert_pose(f.pose), stored, atol=2e-4)
