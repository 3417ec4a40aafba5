import numpy as np
import pycolmap
import pytest

from gscpr.data import DatasetError, load_colmap, load_colmap_points
from gscpr.data.colmap import CAMERA_MODELS, SUPPORTED, colmap_camera
from gscpr.geometry import pose_to_qt

from .fixtures import random_pose

MODELS = {
    "SIMPLE_PINHOLE": ([50.0, 20.0, 15.0], (50.0, 50.0, 19.5, 14.5, ())),
    "PINHOLE": ([50.0, 52.0, 20.0, 15.0], (50.0, 52.0, 19.5, 14.5, ())),
    "SIMPLE_RADIAL": ([50.0, 20.0, 15.0, 0.02], (50.0, 50.0, 19.5, 14.5, (0.02, 0.0, 0.0, 0.0))),
    "OPENCV": ([50.0, 52.0, 20.0, 15.0, 0.1, -0.2, 0.001, 0.002], (50.0, 52.0, 19.5, 14.5, (0.1, -0.2, 0.001, 0.002))),
    "OPENCV_FISHEYE": (
        [50.0, 52.0, 20.0, 15.0, 0.1, -0.2, 0.01, 0.02],
        (50.0, 52.0, 19.5, 14.5, (0.1, -0.2, 0.01, 0.02)),
    ),
    "FULL_OPENCV": (
        [50.0, 52.0, 20.0, 15.0, 0.1, -0.2, 0.001, 0.002, 0.01, 0.02, 0.03, 0.04],
        (50.0, 52.0, 19.5, 14.5, (0.1, -0.2, 0.001, 0.002, 0.01, 0.02, 0.03, 0.04)),
    ),
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


@pytest.mark.parametrize("model", list(SUPPORTED))
def test_every_supported_model_undistorts_to_colmaps_own_projection(model):
    """pycolmap projects camera-frame points with the model; our camera undistorts those pixels back to the
    pinhole's: the same rays, to 1e-6 px."""
    names = CAMERA_MODELS[[k for k, v in CAMERA_MODELS.items() if v[0] == model][0]][1]
    values = {"f": 50.0, "fx": 50.0, "fy": 52.0, "cx": 20.0, "cy": 15.0, "k": 0.05, "k1": 0.05, "k2": -0.02,
              "p1": 0.001, "p2": -0.002, "k3": 0.01, "k4": -0.005, "k5": 0.002, "k6": 0.001}  # fmt: skip
    params = [values[n] for n in names]
    cam = colmap_camera(model, 40, 30, params, "test")
    assert cam.dist_model == SUPPORTED[model]
    pts = np.c_[np.random.default_rng(0).uniform(-0.6, 0.6, (50, 2)), np.ones(50)]
    seen = pycolmap.Camera(model=model, width=40, height=30, params=params).img_from_cam(pts) - 0.5  # index conv.
    np.testing.assert_allclose(cam.undistort_points(seen), cam.project(pts), atol=1e-6)


def test_a_model_that_cannot_be_undistorted_here_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="no COLMAP model"):
        load_colmap(tmp_path)
    rec = pycolmap.Reconstruction()
    rec.add_camera_with_trivial_rig(
        pycolmap.Camera(model="THIN_PRISM_FISHEYE", width=4, height=4, params=[1.0] * 12, camera_id=1)
    )
    rec.add_image_with_trivial_frame(pycolmap.Image(name="a.png", camera_id=1, image_id=1), pycolmap.Rigid3d())
    rec.write_text(str(tmp_path))
    with pytest.raises(DatasetError, match=r"cameras.txt:4: COLMAP camera model THIN_PRISM_FISHEYE is not supported "
                       r"\(supported: SIMPLE_PINHOLE, .*OPENCV_FISHEYE\); undistort the images first"):  # fmt: skip
        load_colmap(tmp_path)


IMAGE_LINES = ["1 1 0 0 0 0 0 0 1 a.png", "2 1 0 0 0 0 0 1 1 b.png", "3 1 0 0 0 0 0 2 1 c.png"]


def write_text_model(folder, cameras=("1 PINHOLE 40 30 50 50 20 15",), images=(), points=True):
    """A COLMAP text model written by hand, as small tools write them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.txt").write_text("# Camera list\n" + "".join(c + "\n" for c in cameras))
    (folder / "images.txt").write_text("# Image list\n" + "".join(i + "\n" for i in images))
    if points:
        (folder / "points3D.txt").write_text("")


def test_a_hand_written_model_with_two_lines_per_image_reads_every_image(tmp_path):
    write_text_model(tmp_path, images=[IMAGE_LINES[0], "", IMAGE_LINES[1], "10.5 3.0 -1 2 4 7", IMAGE_LINES[2], ""],
                     points=False)  # fmt: skip
    frames = load_colmap(tmp_path)
    assert [f.name for f in frames] == ["a.png", "b.png", "c.png"]
    np.testing.assert_allclose(frames[2].pose[:3, 3], [0, 0, 2])
    # The last image's empty points line at the end of the file is the same text as no line at all.
    (tmp_path / "images.txt").write_text("\n".join([IMAGE_LINES[0], "", IMAGE_LINES[1], ""]))
    assert [f.name for f in load_colmap(tmp_path)] == ["a.png", "b.png"]


@pytest.mark.parametrize(
    ("images", "cameras", "message"),
    [
        # One line per image, no 2D points line: COLMAP would take b.png's line as a.png's points.
        (
            IMAGE_LINES,
            None,
            r"images.txt:3: another image line where the 2D points of image 1 \(line 2\) belong; "
            r"images.txt takes two lines per image",
        ),
        (
            [IMAGE_LINES[0], "1.0 2.0"],
            None,
            r"images.txt:3: the 2D points of image 1 \(line 2\) are X Y "
            r"POINT3D_ID triples, got 2 values",
        ),
        (["1 1 0 0 0 0 0 0 a.png", ""], None, r"images.txt:2: 9 fields; an image line is IMAGE_ID QW"),
        (["1 1 0 0 0 0 zero 0 1 a.png", ""], None, r"images.txt:2: TY is not a number: 'zero'"),
        (["1 1 0 0 0 0 0 0 2 a.png", ""], None, r"images.txt:2: camera 2 is not in .*cameras file"),
        (
            [IMAGE_LINES[0], "", "2 1 0 0 0 0 0 0 1 a.png", ""],
            None,
            r"images.txt:4: image name 'a.png' again "
            r"\(first at .*images.txt:2\)",
        ),
        (
            [IMAGE_LINES[0], ""],
            ["1 PINHOLE 40 30 50 50 20"],
            r"cameras.txt:2: camera 1 \(PINHOLE\) has 3 parameters,"
            r" PINHOLE takes 4: fx fy cx cy",
        ),
        (
            [IMAGE_LINES[0], ""],
            ["1 OPENCV 40 30 50 50 20 15"],
            r"cameras.txt:2: camera 1 \(OPENCV\) has 4 "
            r"parameters, OPENCV takes 8: fx fy cx cy k1 k2 p1 p2",
        ),
        ([IMAGE_LINES[0], ""], ["1 PINHOL 40 30 50 50 20 15"], r"cameras.txt:2: unknown camera model 'PINHOL'"),
        ([IMAGE_LINES[0], ""], ["1 PINHOLE 40.5 30 50 50 20 15"], r"cameras.txt:2: WIDTH is not an integer"),
    ],
)
def test_malformed_text_models_are_refused_naming_the_file_and_line(tmp_path, images, cameras, message):
    write_text_model(tmp_path, cameras or ("1 PINHOLE 40 30 50 50 20 15",), images)
    with pytest.raises(DatasetError, match=message):
        load_colmap(tmp_path)


def test_unregistered_images_are_skipped_with_a_warning(tmp_path):
    write_text_model(tmp_path, images=[IMAGE_LINES[0], "", "2 nan nan nan nan nan nan nan 1 b.png", ""])
    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\) without a pose \(not registered\), e.g. b.png"):
        assert [f.name for f in load_colmap(tmp_path)] == ["a.png"]


def test_malformed_binary_models_are_refused(tmp_path):
    write_model(tmp_path, binary=True)
    data = (tmp_path / "images.bin").read_bytes()
    (tmp_path / "images.bin").write_bytes(data[:-4])  # inside the last 2D point count
    with pytest.raises(DatasetError, match=r"images.bin: ends inside image record 3 of 3 .*truncated"):
        load_colmap(tmp_path)
    (tmp_path / "images.bin").write_bytes(data + b"\0" * 8)
    with pytest.raises(DatasetError, match=r"images.bin: 8 bytes after the 3 images the header announces"):
        load_colmap(tmp_path)
    cams = bytearray((tmp_path / "cameras.bin").read_bytes())
    cams[12:16] = (99).to_bytes(4, "little")  # the model id of the first camera
    (tmp_path / "cameras.bin").write_bytes(bytes(cams))
    with pytest.raises(DatasetError, match=r"cameras.bin: camera record 1 of 1 \(camera 1\): unknown camera model "
                       "id 99"):  # fmt: skip
        load_colmap(tmp_path)


def test_real_fern_model_without_images_file(shared_data):
    root = shared_data("nerf_llff_data", "fern")
    with pytest.raises(DatasetError, match="missing images.bin"):
        load_colmap(root)
