import json
import math

import numpy as np
import pytest

from gscpr.data import DatasetError, load_blender, load_rgb
from gscpr.geometry import camera_center

from .fixtures import write_image


def write_transforms(root, split, frames, angle=0.6911112070083618):
    (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))


def test_generated_scene_with_missing_images(tmp_path):
    c2w = [[1, 0, 0, 0], [0, 0, -1, -4], [0, 1, 0, 0], [0, 0, 0, 1]]  # at (0, -4, 0) looking at the origin
    write_transforms(tmp_path, "test", [{"file_path": f"./test/r_{i}", "transform_matrix": c2w} for i in range(3)])
    write_image(tmp_path / "test" / "r_0.png", 80, 80, channels=4)
    write_image(tmp_path / "test" / "r_2.png", 80, 80, channels=4)
    with pytest.warns(UserWarning, match="skipped 1 of 3"):
        frames = load_blender(tmp_path, "test")
    assert [f.name for f in frames] == ["test/r_0.png", "test/r_2.png"]
    assert frames[0].camera.fx == pytest.approx(40 / math.tan(0.6911112070083618 / 2))
    assert frames[0].meta == {"skipped": 1, "rgba": True}
    origin_in_cam = frames[0].pose[:3, 3]
    np.testing.assert_allclose(origin_in_cam, [0, 0, 4], atol=1e-12)


def test_errors(tmp_path):
    with pytest.raises(DatasetError, match="transforms_test.json: no such file"):
        load_blender(tmp_path)
    (tmp_path / "transforms_test.json").write_text("{not json")
    with pytest.raises(DatasetError, match="invalid JSON"):
        load_blender(tmp_path)
    write_image(tmp_path / "a.png", 8, 8)
    write_transforms(tmp_path, "test", [{"file_path": "a.png", "transform_matrix": np.diag([2, 1, 1, 1]).tolist()}])
    with pytest.raises(DatasetError, match="frame 0: bad transform_matrix .*not a rotation"):
        load_blender(tmp_path)


def test_rgba_compositing(tmp_path):
    import imageio.v3 as iio

    img = np.zeros((2, 2, 4), np.uint8)
    img[0, 0] = [255, 0, 0, 255]
    img[0, 1] = [255, 0, 0, 0]
    iio.imwrite(tmp_path / "x.png", img)
    rgb = load_rgb(tmp_path / "x.png", background=(0.0, 1.0, 0.0))
    assert rgb.dtype == np.float32 and rgb.shape == (2, 2, 3)
    np.testing.assert_allclose(rgb[0, 0], [1, 0, 0])
    np.testing.assert_allclose(rgb[0, 1], [0, 1, 0])


def test_real_lego(shared_data):
    root = shared_data("nerf_synthetic", "lego")
    with pytest.warns(UserWarning, match="skipped 150 of 200"):
        frames = load_blender(root, "test")
    assert len(frames) == 50 and frames[0].camera.size == (800, 800)
    for f in frames:
        assert np.linalg.norm(camera_center(f.pose)) == pytest.approx(4.031, abs=0.01)
        # The optical axis (camera +z) points at the origin.
        to_origin = -camera_center(f.pose)
        axis = f.pose[2, :3]
        cos = axis @ to_origin / np.linalg.norm(to_origin)
        assert np.degrees(np.arccos(min(cos, 1.0))) < 2.0
    assert len(load_blender(root, "train")) == 100


def test_each_camera_takes_its_own_images_size(tmp_path):
    c2w = np.eye(4).tolist()
    write_transforms(tmp_path, "test", [{"file_path": f"./test/r_{i}", "transform_matrix": c2w} for i in range(2)], 0.5)
    write_image(tmp_path / "test" / "r_0.png", 80, 60, channels=4)
    write_image(tmp_path / "test" / "r_1.png", 40, 50, channels=4)  # another size: its own camera, not r_0's
    cams = [f.camera for f in load_blender(tmp_path, "test")]
    assert [c.size for c in cams] == [(80, 60), (40, 50)]
    assert [c.fx for c in cams] == pytest.approx([40 / math.tan(0.25), 20 / math.tan(0.25)])
    assert (cams[1].cx, cams[1].cy) == (19.5, 24.5)
    write_transforms(tmp_path, "test", [{"file_path": "./test/r_0", "transform_matrix": c2w}], 4.0)
    with pytest.raises(DatasetError, match="camera_angle_x must be an angle in \\(0, pi\\) radians, got 4.0"):
        load_blender(tmp_path, "test")


def test_an_unreadable_image_does_not_stop_the_folder_from_loading(tmp_path):
    c2w = np.eye(4).tolist()
    write_transforms(tmp_path, "test", [{"file_path": f"./test/r_{i}", "transform_matrix": c2w} for i in range(2)], 0.5)
    write_image(tmp_path / "test" / "r_1.png", 40, 50, channels=4)
    (tmp_path / "test" / "r_0.png").write_bytes(b"\x89PNG broken")  # refused when its query is read, not here
    assert [f.camera.size for f in load_blender(tmp_path, "test")] == [(40, 50), (40, 50)]
    (tmp_path / "test" / "r_1.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="r_0.png: not an image"):
        load_blender(tmp_path, "test")
