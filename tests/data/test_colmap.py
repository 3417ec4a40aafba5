import numpy as np
import pycolmap
import pytest

from gscpr.data import DatasetError, load_colmap, load_colmap_points
from gscpr.geometry import pose_to_qt

from .fixtures import random_pose

MODELS = {
    "SIMPLE_PINHOLE": ([50.0, 20.0, 15.0], (50.0, 50.0, 19.5, 14.5, ())),
    "PINHOLE": ([50.0, 52.0, 20.0, 15.0], (50.0, 52.0, 19.5, 14.5, ())),
    "SIMPLE_RADIAL": ([50.0, 20.0, 15.0, 0.02], (50.0, 50.0, 19.5, 14.5, (0.02, 0.0, 0.0, 0.0))),
    "OPENCV": ([50.0, 52.0, 20.0, 15.0, 0.1, -0.2, 0.001, 0.002], (50.0, 52.0, 19.5, 14.5, (0.1, -0.2, 0.001, 0.002))),
}


def write_model(folder, model="PINHOLE", n=3, binary=False, seed=0):
    rng = np.random.default_rng(seed)
    rec = pycolmap.Reconstruction()
    rec.add_camera_with_trivial_rig(
        pycolmap.Camera(model=model, width=40, height=30, params=MODELS[model][0], camera_id=1)
    )
    poses = {}
    for i in range(n):
        T = random_pose(rng)
        q, t = pose_to_qt(T)
        rigid = pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([*q[1:], q[0]])), t)  # pycolmap: xyzw
        rec.add_image_with_trivial_frame(pycolmap.Image(name=f"img{i}.png", camera_id=1, image_id=i + 1), rigid)
        poses[f"img{i}.png"] = T
    for i in range(5):
        rec.add_point3D(np.array([i, 2.0 * i, 1.0]), pycolmap.Track(), np.array([i, 10, 20], dtype=np.uint8))
    folder.mkdir(parents=True, exist_ok=True)
    (rec.write_binary if binary else rec.write_text)(str(folder))
    return poses


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("model", list(MODELS))
def test_poses_and_intrinsics_round_trip(tmp_path, model, binary):
    poses = write_model(tmp_path / "sparse" / "0", model, binary=binary)
    frames = load_colmap(tmp_path)
    assert [f.name for f in frames] == list(poses)
    fx, fy, cx, cy, dist = MODELS[model][1]
    for f in frames:
        np.testing.assert_allclose(f.pose, poses[f.name], atol=1e-9)
        assert (f.camera.fx, f.camera.fy, f.camera.cx, f.camera.cy, f.camera.dist) == (fx, fy, cx, cy, dist)
        assert f.image_path == tmp_path / "images" / f.name
    xyz, rgb = load_colmap_points(tmp_path)
    assert xyz.shape == (5, 3) and rgb.dtype == np.uint8 and rgb[3].tolist() == [3, 10, 20]


def test_holdout_and_model_folder(tmp_path):
    write_model(tmp_path, n=5)
    assert [f.name for f in load_colmap(tmp_path, split="test", test_every=2)] == ["img0.png", "img2.png", "img4.png"]


def test_errors(tmp_path):
    with pytest.raises(DatasetError, match="no COLMAP model"):
        load_colmap(tmp_path)
    rec = pycolmap.Reconstruction()
    rec.add_camera_with_trivial_rig(
        pycolmap.Camera(model="FULL_OPENCV", width=4, height=4, params=[1.0] * 12, camera_id=1)
    )
    rec.add_image_with_trivial_frame(pycolmap.Image(name="a.png", camera_id=1, image_id=1), pycolmap.Rigid3d())
    rec.write_text(str(tmp_path))
    with pytest.raises(DatasetError, match="FULL_OPENCV is not supported"):
        load_colmap(tmp_path)


def test_real_fern_model_without_images_file(shared_data):
    root = shared_data("nerf_llff_data", "fern")
    with pytest.raises(DatasetError, match="missing images.bin"):
        load_colmap(root)
