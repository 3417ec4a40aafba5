import io

import cv2
import numpy as np
import pytest

from gscpr.cli import main
from gscpr.data import load_7scenes, load_12scenes, load_cambridge
from gscpr.data.setup import D_TO_RGB
from gscpr.geometry import camera_center, invert_pose, pose_to_qt
from gscpr.poses import read_matrix_pose, read_pose_file, write_poses

from .fixtures import random_pose
from .http_server import FileServer
from .test_download import zip_bytes


def png(width=8, height=6, value=100) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((height, width, 3), value, np.uint8))
    return buf.tobytes()


def matrix_text(M) -> bytes:
    return "".join(" ".join(f"{v:.17g}" for v in row) + "\n" for row in M).encode()


def seven_scenes_zip(scene: str, frames: dict[str, list[int]], poses: dict) -> bytes:
    """A scene zip as Microsoft ships it: <scene>/{TrainSplit,TestSplit}.txt and <scene>/seq-XX.zip inside."""
    members = {
        f"{scene}/TestSplit.txt": b"sequence1\r\n",
        f"{scene}/TrainSplit.txt": b"sequence2\r\n",
    }
    for seq, ids in frames.items():
        inner = {}
        for i in ids:
            inner[f"{seq}/frame-{i:06d}.color.png"] = png()
            inner[f"{seq}/frame-{i:06d}.pose.txt"] = matrix_text(invert_pose(poses[f"{seq}/frame-{i:06d}"]))
        members[f"{scene}/{seq}.zip"] = zip_bytes(inner)
    return zip_bytes(members)


@pytest.fixture
def seven(tmp_path):
    rng = np.random.default_rng(0)
    frames = {"seq-01": [0, 1], "seq-02": [0, 1, 2]}
    poses = {f"{s}/frame-{i:06d}": random_pose(rng) for s, ids in frames.items() for i in ids}
    pgt = tmp_path / "pgt"
    for split, seq in (("test", "seq-01"), ("train", "seq-02")):
        names = [k for k in poses if k.startswith(seq)]
        if split == "train":
            names = names[:2]  # one train frame has no pGT pose: it must be skipped, not crash
        pg = {f"{k}.color.png": invert_pose(invert_pose(poses[k])) @ _shift() for k in names}
        write_poses(pgt / "7scenes" / f"stairs_{split}.txt", pg, fmt="pgt", focal=dict.fromkeys(pg, 526.5))
    server = FileServer({"/stairs.zip": seven_scenes_zip("stairs", frames, poses)})
    return tmp_path, server, poses, pgt


def _shift():
    T = np.eye(4)
    T[:3, 3] = [0.01, 0.0, 0.0]  # pGT poses differ from the sensor's: tell them apart
    return T


def test_7scenes_pgt_layout(seven, capsys):
    tmp_path, server, poses, pgt = seven
    out = tmp_path / "datasets"
    with server.running() as url:
        args = ["setup", "7scenes", "--out", str(out), "--scenes", "stairs", "--pgt-dir", str(pgt), "--yes"]
        assert main([*args, "--base-url", url, "--no-progress"]) == 0
        assert main([*args, "--base-url", url, "--no-progress"]) == 0  # second run: nothing downloaded
    assert [p for p, _ in server.requests] == ["/stairs.zip"]
    scene = out / "pgt_7scenes_stairs"
    assert sorted(p.name for p in (scene / "test" / "rgb").iterdir()) == [
        "seq-01-frame-000000.color.png",
        "seq-01-frame-000001.color.png",
    ]
    assert (scene / "test" / "rgb" / "seq-01-frame-000000.color.png").is_symlink()
    assert len(list((scene / "train" / "rgb").iterdir())) == 2  # 3 frames, 1 without pGT skipped
    assert "skipped 1 frame(s) without a pGT pose" in capsys.readouterr().out
    pg = read_pose_file(pgt / "7scenes" / "stairs_test.txt")
    c2w = read_matrix_pose(scene / "test" / "poses" / "seq-01-frame-000001.pose.txt")
    np.testing.assert_allclose(c2w, invert_pose(pg["seq-01/frame-000001.color.png"].pose), atol=1e-12)
    assert (scene / "test" / "calibration" / "seq-01-frame-000001.calibration.txt").read_text() == "526.5"
    frames = load_7scenes(scene, "test")
    np.testing.assert_allclose(frames[1].pose, pg["seq-01/frame-000001.color.png"].pose, atol=1e-12)
    assert frames[1].camera.fx == 526.5
    assert not (out / "7scenes_source" / "stairs" / "seq-01.zip").exists()  # inner zips removed once extracted


def test_7scenes_calibrated_poses(seven):
    tmp_path, server, poses, _ = seven
    out = tmp_path / "datasets"
    with server.running() as url:
        args = ["setup", "7scenes", "--out", str(out), "--scenes", "stairs", "--poses", "calibrated", "--yes"]
        assert main([*args, "--base-url", url, "--no-progress", "--copy"]) == 0
    scene = out / "7scenes_stairs"
    c2w = read_matrix_pose(scene / "train" / "poses" / "seq-02-frame-000002.pose.txt")
    np.testing.assert_allclose(c2w, invert_pose(poses["seq-02/frame-000002"]) @ np.linalg.inv(D_TO_RGB), atol=1e-12)
    assert (scene / "train" / "calibration" / "seq-02-frame-000002.calibration.txt").read_text() == "525.0"
    assert not (scene / "train" / "rgb" / "seq-02-frame-000002.color.png").is_symlink()  # --copy


def test_licence_refusal_downloads_nothing(seven, monkeypatch, capsys):
    tmp_path, server, _, pgt = seven
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))  # not a terminal: needs --yes
    with server.running() as url:
        rc = main(["setup", "7scenes", "--out", str(tmp_path / "d"), "--pgt-dir", str(pgt), "--base-url", url])
    assert rc == 2 and server.requests == []
    err = capsys.readouterr()
    assert "pass --yes" in err.err and "rgb-d-dataset-7-scenes" in err.out
    assert main(["setup", "7scenes", "--out", str(tmp_path / "d"), "--yes"]) == 2  # pgt without --pgt-dir
    assert "--poses pgt needs --pgt-dir" in capsys.readouterr().err


def test_12scenes_original_poses_skip_inf(tmp_path, capsys):
    rng = np.random.default_rng(1)
    members, poses = {}, {}
    info = "m_colorWidth = 8\nm_colorHeight = 6\nm_calibrationColorIntrinsic = 1160 0 4 0 0 1170 3 0 0 0 1 0 0 0 0 1\n"
    for scene in ("kitchen", "living"):
        members[f"apt1/{scene}/info.txt"] = info.encode()
        members[f"apt1/{scene}/split.txt"] = b"sequence0 [frames=2]  [start=0 ; end=1]\n"
        for i in range(4):
            members[f"apt1/{scene}/data/frame-{i:06d}.color.jpg"] = png()
            if scene == "kitchen" and i == 1:
                members[f"apt1/{scene}/data/frame-{i:06d}.pose.txt"] = b"-inf -inf -inf -inf\n" * 4
            else:
                poses[(scene, i)] = random_pose(rng)
                members[f"apt1/{scene}/data/frame-{i:06d}.pose.txt"] = matrix_text(invert_pose(poses[(scene, i)]))
    members["apt1/README.txt"] = b"readme"
    server = FileServer({"/apt1.zip": zip_bytes(members)})
    with server.running() as url:
        args = ["setup", "12scenes", "--out", str(tmp_path), "--scenes", "apt1", "--poses", "original", "--yes"]
        assert main([*args, "--base-url", url, "--no-progress"]) == 0
    assert "skipped 1 frame(s) with an invalid or missing pose" in capsys.readouterr().out
    test = load_12scenes(tmp_path / "12scenes_apt1_kitchen", "test")
    assert [f.name for f in test] == ["frame-000000.color.jpg"]
    assert test[0].camera.fx == 1165.0
    assert (tmp_path / "12scenes_apt1_kitchen" / "test" / "calibration" / "frame-000000.calibration.txt").is_file()
    train = load_12scenes(tmp_path / "12scenes_apt1_living", "train")
    assert [f.name for f in train] == ["frame-000002.color.jpg", "frame-000003.color.jpg"]
    np.testing.assert_allclose(train[1].pose, poses[("living", 3)], atol=1e-12)


def test_cambridge_all_scenes_layout(tmp_path):
    rng = np.random.default_rng(2)
    files, truth = {}, {}
    for scene, handle in (("ShopFacade", "251336"), ("GreatCourt", "251291")):
        names = ["seq1/frame00001.png", "seq1/frame00002.png", "seq2/frame00001.png"]
        poses = {n: random_pose(rng) for n in names}
        nvm = f"NVM_V3\n\n{len(names)}\n"
        split_lines = {"train": [], "test": []}
        for i, n in enumerate(names):
            q, _ = pose_to_qt(poses[n])
            c = camera_center(poses[n])
            nvm += f"{n[:-3]}jpg {1600 + i} {' '.join(map(str, q))} {' '.join(map(str, c))} 0 0\n"
            split_lines["test" if n.startswith("seq2") else "train"].append(f"{n} {' '.join(map(str, [*c, *q]))}")
        members = {f"{scene}/reconstruction.nvm": (nvm + "0\n").encode()}
        for split, lines in split_lines.items():
            members[f"{scene}/dataset_{split}.txt"] = ("h1\nh2\nh3\n" + "\n".join(lines) + "\n").encode()
        for n in names:
            members[f"{scene}/{n}"] = png(192, 108)
        files[f"/{handle}/{scene}.zip"] = zip_bytes(members)
        truth[scene] = poses
    server = FileServer(files)
    with server.running() as url:
        args = ["setup", "cambridge", "--out", str(tmp_path), "--scenes", "ShopFacade", "GreatCourt", "--yes"]
        assert main([*args, "--base-url", url, "--no-progress"]) == 0
    for scene in ("ShopFacade", "GreatCourt"):
        root = tmp_path / f"Cambridge_{scene}"
        assert cv2.imread(str(root / "test" / "rgb" / "seq2_frame00001.png")).shape == (480, 854, 3)
        assert float((root / "test" / "calibration" / "seq2_frame00001.txt").read_text()) == pytest.approx(
            1602 * 854 / 192
        )
        (f,) = load_cambridge(root, "test")
        assert f.image_path == root / "seq2" / "frame00001.png" and f.camera.size == (192, 108)
        assert f.camera.fx == pytest.approx(1602.0)  # back at full resolution
        np.testing.assert_allclose(f.pose, truth[scene]["seq2/frame00001.png"], atol=1e-9)
        assert len(load_cambridge(root, "train")) == 2


def test_real_pgt_file_for_stairs(shared_data, tmp_path):
    """Frames named like the real pGT's stairs test split get exactly its poses and focal."""
    pgt_dir = shared_data("visloc_pgt", "pgt", "sfm")
    entries = read_pose_file(pgt_dir / "7scenes" / "stairs_test.txt")
    wanted = [n for n in entries if n.startswith("seq-01/")][:3]
    ids = [int(n.split("frame-")[1][:6]) for n in wanted]
    poses = {n.replace(".color.png", ""): random_pose(np.random.default_rng(i)) for i, n in enumerate(wanted)}
    zipped = seven_scenes_zip("stairs", {"seq-01": ids}, poses)
    server = FileServer({"/stairs.zip": zipped})
    with server.running() as url:
        args = ["setup", "7scenes", "--out", str(tmp_path), "--scenes", "stairs", "--pgt-dir", str(pgt_dir), "--yes"]
        assert main([*args, "--base-url", url, "--no-progress"]) == 0
    frames = load_7scenes(tmp_path / "pgt_7scenes_stairs", "test")
    assert len(frames) == 3
    for f, n in zip(frames, wanted, strict=True):
        np.testing.assert_allclose(f.pose, entries[n].pose, atol=1e-9)
        assert f.camera.fx == entries[n].focal


@pytest.mark.parametrize("dataset, scenes", [("7scenes", ["stairs", "kitchen"]), ("12scenes", ["apt3"]),
                                             ("cambridge", ["KingsCollege", "kings"])])  # fmt: skip
def test_unknown_scene_names_are_refused_before_the_licence_or_any_download(seven, capsys, dataset, scenes):
    tmp_path, server, _, pgt = seven
    with server.running() as url:
        argv = ["setup", dataset, "--out", str(tmp_path / "d"), "--scenes", *scenes, "--poses", "original"]
        assert main([*argv, "--base-url", url, "--yes"]) == 2
    assert server.requests == [] and not (tmp_path / "d").exists()
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"gscpr setup: error: unknown {dataset} scene(s) {scenes[-1]!r}; expected any of ")
    assert "licence" not in captured.out  # nothing asked


def test_a_missing_or_unknown_dataset_name_is_one_line_listing_the_datasets(capsys):
    for argv in (["setup"], ["setup", "7-scenes"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and line.startswith("gscpr setup: error: ") and "7scenes" in line


def test_no_network_is_one_line_that_says_so(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on: the connection is refused, as with no network
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["setup", "cambridge", "--out", str(tmp_path / "d"), "--scenes", "ShopFacade", "--yes", "--no-progress"]
    assert main([*argv, "--base-url", f"http://127.0.0.1:{port}"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"gscpr setup: error: http://127.0.0.1:{port}/") and "cannot connect" in line
    assert "is this machine online? (--base-url downloads from a mirror)" in line and "Traceback" not in line


def test_a_mirror_url_ending_in_a_slash_makes_no_double_slash(tmp_path, capsys):
    """``--base-url https://mirror/`` as often written: the archive's URL has one slash before its path (a
    double one is a different path on S3-style mirrors). Port 9 (discard) refuses: the line shows the URL."""
    argv = ["setup", "cambridge", "--yes", "--scenes", "ShopFacade", "--out", str(tmp_path / "d"), "--no-progress",
            "--base-url", "http://127.0.0.1:9/"]  # fmt: skip
    assert main(argv) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "http://127.0.0.1:9/251336/ShopFacade.zip: cannot connect" in line, line
