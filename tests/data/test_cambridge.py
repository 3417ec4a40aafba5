import numpy as np
import pytest

from gscpr.data import DatasetError, load_cambridge, load_cambridge_original
from gscpr.data.cambridge import original_name, read_nvm_cameras
from gscpr.geometry import camera_center, pose_to_qt

from .fixtures import make_ace_scene, random_pose, write_image


def test_full_resolution_frames_get_the_exactly_rescaled_focal(tmp_path):
    names = ["seq1_frame00001.png", "seq2_frame00010.png"]
    poses = make_ace_scene(
        tmp_path, names, focal=[744.0, 750.0], size=(854, 480), pose_suffix=".txt", calib_suffix=".txt"
    )
    for n in names:
        write_image(tmp_path / original_name(n), 1920, 1080)
    frames = load_cambridge(tmp_path)
    f = frames[0]
    assert f.name == "seq1_frame00001.png" and f.meta["original_name"] == "seq1/frame00001.png"
    assert f.image_path == tmp_path / "seq1" / "frame00001.png"
    assert f.camera.size == (1920, 1080) and (f.camera.cx, f.camera.cy) == (959.5, 539.5)
    assert f.camera.fx == pytest.approx(744.0 * 1920 / 854)
    np.testing.assert_allclose(f.pose, poses[f.name], atol=1e-12)
    legacy = load_cambridge(tmp_path, legacy_focal=True)[0]
    assert legacy.camera.fx == pytest.approx(744.0 * 2.25)
    assert legacy.camera.fx / f.camera.fx - 1 == pytest.approx(0.00078, abs=1e-5)  # the original's 0.08 %
    # The original's refinement: the focal of the last query in sorted seqN/frameM.png order, for every query.
    one = load_cambridge(tmp_path, legacy_focal=True, legacy_one_focal=True)
    assert [c.camera.fx for c in one] == pytest.approx([750.0 * 2.25] * 2)
    assert [c.camera.fy for c in one] == pytest.approx([750.0 * 2.25] * 2)
    small = load_cambridge(tmp_path, full_resolution=False)[0]
    assert small.camera.size == (854, 480) and small.camera.fx == 744.0
    (tmp_path / "seq2" / "frame00010.png").unlink()
    with pytest.raises(DatasetError, match="frame00010.png: full-resolution frame missing"):
        load_cambridge(tmp_path)


def test_nvm_and_split_file(tmp_path):
    rng = np.random.default_rng(3)
    T = random_pose(rng)
    q, _ = pose_to_qt(T)
    c = camera_center(T)
    nvm = "NVM_V3\n\n2\n"
    nvm += f"seq1/frame00001.jpg 1670.5 {' '.join(map(str, q))} {' '.join(map(str, c))} -0.01 0\n"
    nvm += f"seq1/frame00002.jpg 1671.0 {' '.join(map(str, q))} {' '.join(map(str, c))} -0.01 0\n"
    nvm += "0\n"
    (tmp_path / "reconstruction.nvm").write_text(nvm)
    cams = read_nvm_cameras(tmp_path / "reconstruction.nvm")
    assert cams["seq1/frame00001.jpg"][0] == 1670.5
    np.testing.assert_allclose(cams["seq1/frame00002.jpg"][1], T, atol=1e-9)
    header = "Visual Landmark Dataset V1\nImageFile, Camera Position [X Y Z W P Q R]\n\n"
    (tmp_path / "dataset_test.txt").write_text(header + f"seq1/frame00002.png {' '.join(map(str, [*c, *q]))}\n")
    write_image(tmp_path / "seq1" / "frame00002.png", 192, 108)
    (f,) = load_cambridge_original(tmp_path, "test")
    assert f.name == "seq1/frame00002.png" and f.camera.fx == 1671.0
    np.testing.assert_allclose(f.pose, T, atol=1e-9)
    (tmp_path / "bad.nvm").write_text("NVM_V3\n\n3\nseq1/a.jpg 1 2\n")
    with pytest.raises(DatasetError, match="bad.nvm:4: expected 'name focal"):
        read_nvm_cameras(tmp_path / "bad.nvm")
