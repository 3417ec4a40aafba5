import json

import numpy as np
import pytest

from gscpr.data import DatasetError, detect_format, load_dataset, load_other_splits

from .fixtures import make_ace_scene, write_image


def test_detects_each_layout(tmp_path):
    ace = tmp_path / "pgt_7scenes_chess"
    make_ace_scene(ace, ["seq-01-frame-000000.color.png"], 525.0)
    cam = tmp_path / "Cambridge_ShopFacade"
    make_ace_scene(cam, ["seq1_frame00001.png"], 700.0, pose_suffix=".txt", calib_suffix=".txt")
    seven = tmp_path / "stairs"
    seven.mkdir()
    (seven / "TestSplit.txt").write_text("sequence1\n")
    twelve = tmp_path / "kitchen"
    (twelve / "data").mkdir(parents=True)
    (twelve / "info.txt").write_text("")
    blender = tmp_path / "lego"
    blender.mkdir()
    (blender / "transforms_train.json").write_text("{}")
    ngp = tmp_path / "fox"
    ngp.mkdir()
    (ngp / "transforms.json").write_text("{}")
    llff = tmp_path / "fern"
    llff.mkdir()
    np.save(llff / "poses_bounds.npy", np.zeros((1, 17)))
    colmap = tmp_path / "garden"
    (colmap / "sparse" / "0").mkdir(parents=True)
    expected = {ace: "ace", cam: "cambridge", seven: "7scenes", twelve: "12scenes", blender: "blender", ngp: "ngp",
                llff: "llff", colmap: "colmap"}  # fmt: skip
    for path, kind in expected.items():
        assert detect_format(path) == kind, path
    assert load_dataset(ace)[0].name == "seq-01-frame-000000.color.png"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="unknown dataset format; looked for"):
        load_dataset(empty)
    with pytest.raises(DatasetError, match="no such dataset folder"):
        load_dataset(tmp_path / "nope")


def test_blender_through_the_dispatcher(tmp_path):
    write_image(tmp_path / "r_0.png", 16, 16)
    frames = [{"file_path": "r_0", "transform_matrix": np.eye(4).tolist()}]
    (tmp_path / "transforms_test.json").write_text(json.dumps({"camera_angle_x": 0.5, "frames": frames}))
    assert load_dataset(tmp_path, "test")[0].camera.size == (16, 16)


def test_split_all_reads_every_split_of_a_format_with_its_own_splits(tmp_path):
    make_ace_scene(tmp_path, ["seq-03-frame-000000.color.png"], 525.0, split="test")
    make_ace_scene(tmp_path, ["seq-01-frame-000000.color.png", "seq-01-frame-000001.color.png"], 525.0, split="train")
    frames = load_dataset(tmp_path, "all")
    assert [(f.name, f.split) for f in frames] == [
        ("seq-03-frame-000000.color.png", "test"),
        ("seq-01-frame-000000.color.png", "train"),
        ("seq-01-frame-000001.color.png", "train"),
    ]
    assert [f.name for f in load_dataset(tmp_path, None)] == ["seq-03-frame-000000.color.png"]  # the test split
    assert [f.name for f in load_other_splits(tmp_path)] == [f.name for f in frames[1:]]  # what None leaves out
    make_ace_scene(tmp_path, ["seq-03-frame-000000.color.png"], 525.0, split="train")  # one name in both splits
    with pytest.raises(
        DatasetError, match="'seq-03-frame-000000.color.png' is in split test .* and train .*use --split"
    ):
        load_dataset(tmp_path, "all")


def test_split_all_and_none_read_every_frame_of_a_holdout_format(tmp_path):
    frames = [{"file_path": f"images/{i}.png", "transform_matrix": np.eye(4).tolist()} for i in range(10)]
    for i in range(10):
        write_image(tmp_path / "images" / f"{i}.png", 16, 12)
    (tmp_path / "transforms.json").write_text(json.dumps({"camera_angle_x": 0.5, "w": 16, "h": 12, "frames": frames}))
    assert len(load_dataset(tmp_path, "all")) == len(load_dataset(tmp_path, None)) == 10
    assert load_other_splits(tmp_path) == []  # None has read them all
    assert [f.name for f in load_dataset(tmp_path, "test")] == ["images/0.png", "images/8.png"]  # the hold-out
