import numpy as np
import pytest

from gscpr.data import DatasetError, load_llff, load_rgb

from .fixtures import write_image


def test_generated_poses_bounds(tmp_path):
    # One camera with OpenCV c2w rotation = identity, centre (1, 2, 3): LLFF columns are [down, right, back].
    R_cv = np.eye(3)
    llff = np.stack([R_cv[:, 1], R_cv[:, 0], -R_cv[:, 2]], axis=1)
    m = np.concatenate([llff, [[1.0], [2.0], [3.0]], [[400.0], [600.0], [500.0]]], axis=1)
    pb = np.concatenate([m.reshape(-1), [1.5, 9.0]])[None].repeat(3, axis=0)
    np.save(tmp_path / "poses_bounds.npy", pb)
    for i in range(3):
        write_image(tmp_path / "images_8" / f"image{i:03d}.png", 75, 50)
    frames = load_llff(tmp_path, split=None)
    f = frames[0]
    np.testing.assert_allclose(f.pose[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(f.pose[:3, 3], [-1.0, -2.0, -3.0], atol=1e-12)
    assert f.camera.size == (75, 50) and f.camera.fx == pytest.approx(62.5) and f.meta["bounds"] == [1.5, 9.0]
    assert [x.name for x in load_llff(tmp_path, split="test", test_every=2)] == ["image000.png", "image002.png"]
    (tmp_path / "images_8" / "image002.png").unlink()
    with pytest.raises(DatasetError, match=r"no image folder with one image per pose of poses_bounds.npy \(3\); "
                       r"asked for images_8/; image folders: images_8/ \(2 images\)"):  # fmt: skip
        load_llff(tmp_path)


def write_llff(root, n, folders):
    m = np.concatenate([np.eye(3)[:, [1, 0, 2]] * [1, 1, -1], [[0.0], [0.0], [0.0]], [[400.0], [600.0], [500.0]]], 1)
    np.save(root / "poses_bounds.npy", np.concatenate([m.reshape(-1), [1.0, 9.0]])[None].repeat(n, axis=0))
    for folder, (w, h, count) in folders.items():
        for i in range(count):
            write_image(root / folder / f"image{i:03d}.png", w, h)


def test_the_resolution_that_exists_is_used_when_images_8_is_absent(tmp_path):
    write_llff(tmp_path, 2, {"images": (600, 400, 2)})
    with pytest.warns(UserWarning, match=r"images_8/ is absent; using images/ \(intrinsics scaled to its size\)"):
        frames = load_llff(tmp_path, split=None)
    assert frames[0].camera.size == (600, 400) and frames[0].camera.fx == pytest.approx(500.0)
    write_llff(tmp_path, 2, {"images_4": (150, 100, 2), "images_16": (38, 25, 1)})  # the nearest complete one
    with pytest.warns(UserWarning, match="using images_4/"):
        assert load_llff(tmp_path, split=None)[0].camera.fx == pytest.approx(125.0)
    assert load_llff(tmp_path, split=None, factor=4)[0].camera.size == (150, 100)  # as asked: no warning


def test_no_complete_resolution_folder_says_which_exist(tmp_path):
    write_llff(tmp_path, 3, {"images": (600, 400, 2), "images_4": (150, 100, 1)})
    (tmp_path / "images_x").mkdir()  # not a resolution folder
    with pytest.raises(DatasetError, match=r"asked for images_8/; image folders: images/ \(2 images\), "
                       r"images_4/ \(1 images\)$"):  # fmt: skip
        load_llff(tmp_path)


def test_real_fern_poses_project_its_points(shared_data):
    """SOURCE.md's check: colouring points3D through the converted pose matches the right image best."""
    root = shared_data("nerf_llff_data", "fern")
    frames = load_llff(root, split=None)
    assert len(frames) == 20 and frames[0].camera.size == (504, 378)
    xyz, rgb = _read_points3d_bin(root / "sparse" / "0" / "points3D.bin")

    def colour_error(frame_idx, pose_idx):
        f, pose = frames[frame_idx], frames[pose_idx].pose
        p = xyz @ pose[:3, :3].T + pose[:3, 3]
        ok = p[:, 2] > 0
        uv = f.camera.project(p[ok])
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < 503) & (uv[:, 1] >= 0) & (uv[:, 1] < 377)
        img = load_rgb(f.image_path) * 255
        px = np.round(uv[inside]).astype(int)
        return np.abs(img[px[:, 1], px[:, 0]] - rgb[ok][inside]).mean()

    for i in (0, 10):
        right = colour_error(i, i)
        assert right < 45 and right < min(colour_error(i, j) for j in (5, 15, 19))


def _read_points3d_bin(path):
    """COLMAP points3D.bin, read by hand: the model lacks images.bin, so pycolmap cannot load it."""
    import struct

    data = path.read_bytes()
    (n,) = struct.unpack_from("<Q", data, 0)
    off, xyz, rgb = 8, [], []
    for _ in range(n):
        _, x, y, z, r, g, b, _, track_len = struct.unpack_from("<QdddBBBdQ", data, off)
        off += 51 + 8 * track_len  # then (image_id, point2D_idx) uint32 pairs
        xyz.append((x, y, z))
        rgb.append((r, g, b))
    return np.array(xyz), np.array(rgb, dtype=float)
