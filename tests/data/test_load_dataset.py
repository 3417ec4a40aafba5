import json

import numpy as np
import pytest

from gscpr.data import DatasetError, detect_format, load_dataset

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
