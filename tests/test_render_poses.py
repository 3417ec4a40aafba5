"""gscpr render on any scene (--model/--poses/--intrinsics/--out); the paper's datasets: tests/paper/test_render.py."""

import json

import cv2
import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.cli import main
from gscpr.geometry import make_pose
from gscpr.poses import write_poses
from gscpr.splat.scaffold import random_scaffold, save_scaffold


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small Scaffold-GS model folder (the one tests/paper/fixtures.py writes for a paper scene)."""
    path = tmp_path_factory.mktemp("model") / "output"
    save_scaffold(random_scaffold(300, seed=0, extent=1.5), path, 30000)
    return path


def test_generic_mode_names_with_slashes_and_bad_lines(tmp_path, model, capsys):
    pose = np.eye(4)
    pose[2, 3] = 3.0
    q = "1 0 0 0 0 0 3"
    (tmp_path / "poses.txt").write_text(
        f"seq-03/frame-000000.color.png {q}\nbad 1 0 0 0 0 nan 3\nseq-03/frame-000001.color.png {q}\nnoext {q}\n"
    )
    args = [
        "render",
        "--model",
        str(model),
        "--poses",
        str(tmp_path / "poses.txt"),
        "--intrinsics",
        "50,50,31.5,23.5,64,48",
    ]
    rc = main([*args, "--out", str(tmp_path / "out"), "--device", "cpu", "--backend", "torch"])
    assert rc == 1  # one bad line: reported, the rest rendered
    assert (tmp_path / "out" / "seq-03" / "frame-000000.color.png").is_file()
    assert (tmp_path / "out" / "seq-03" / "frame-000001.color.npy").is_file()
    failures = json.loads((tmp_path / "out" / "render_failures.json").read_text())
    assert sorted(failures) == ["noext", "poses.txt:2"] and "NaN" in failures["poses.txt:2"]
    assert "no image format" in failures["noext"]  # one line in the report, not cv2's traceback
    assert "rendered 2" in capsys.readouterr().out


def test_a_name_that_would_write_outside_the_output_folder_is_refused_and_the_rest_rendered(tmp_path, model, capsys):
    """An estimator's absolute image path (or a '..' one) as a render name would overwrite the photo itself, or any
    file, with its render: refused per view, in render_failures.json; nothing is written outside --out."""
    photo = tmp_path / "photos" / "IMG_0001.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"the user's photo")
    q = "1 0 0 0 0 0 3"
    names = [str(photo), "../escaped.png", "..\\win\\escaped.png", "C:\\shots\\a.png", "a/../../b.png"]
    (tmp_path / "poses.txt").write_text("".join(f"{n} {q}\n" for n in names) + f"ok/..x.png {q}\n")
    out = tmp_path / "run" / "out"
    argv = ["render", "--model", str(model), "--poses", str(tmp_path / "poses.txt"), "--intrinsics",
            "50,50,31.5,23.5,64,48", "--out", str(out), "--device", "cpu", "--backend", "torch"]  # fmt: skip
    assert main(argv) == 1  # refused views reported, the rest rendered
    assert photo.read_bytes() == b"the user's photo" and sorted(p.name for p in photo.parent.iterdir()) == [photo.name]
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["out"] and not (tmp_path / "escaped.png").exists()
    assert (out / "ok" / "..x.png").is_file()  # '..' inside a file name is no parent folder
    failures = json.loads((out / "render_failures.json").read_text())
    assert sorted(failures) == sorted(names) and all("would write outside" in why for why in failures.values())
    assert "rendered 1" in capsys.readouterr().out


def test_white_background_of_cfg_args_unless_background_is_given(tmp_path):
    model = tmp_path / "model"
    save_scaffold(random_scaffold(30, seed=4), model, 1)
    text = (model / "cfg_args").read_text()
    (model / "cfg_args").write_text(text.replace("white_background=False", "white_background=True"))
    write_poses(tmp_path / "poses.txt", {"far.png": make_pose(np.eye(3), [0.0, 0.0, 40.0])})  # corners: background
    args = ["render", "--model", str(model), "--poses", str(tmp_path / "poses.txt"), "--intrinsics",
            "40,40,19.5,14.5,40,30", "--device", "cpu", "--backend", "torch"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "default")]) == 0
    assert cv2.imread(str(tmp_path / "default" / "far.png"))[0, 0].tolist() == [255, 255, 255]
    assert main([*args, "--out", str(tmp_path / "given"), "--background", "0", "0", "0"]) == 0
    assert cv2.imread(str(tmp_path / "given" / "far.png"))[0, 0].tolist() == [0, 0, 0]


def test_a_render_made_at_another_pose_is_made_again_and_never_taken_for_the_new_one(tmp_path, model):
    from gscpr.render_poses import POSE_INDEX, made_at_other_pose, read_pose_index, render_poses
    from gscpr.splat.model import load_scene_model

    cam = Camera.centered(64, 48, 50.0)
    scene = load_scene_model(model, "cpu")
    near, far = make_pose(np.eye(3), [0, 0, 3.0]), make_pose(np.eye(3), [0.2, 0, 3.5])
    out = tmp_path / "renders"
    kw = {"backend": "torch", "progress": False}
    assert render_poses(scene, {"a/x.png": near, "y.png": near}, cam, out, **kw).rendered == ["a/x.png", "y.png"]
    index = read_pose_index(out)
    assert (out / POSE_INDEX).is_file() and np.allclose(index["a/x.png"], near)
    again = render_poses(scene, {"a/x.png": near, "y.png": far}, cam, out, **kw)  # y's coarse pose moved
    assert again.skipped == ["a/x.png"] and again.rendered == ["y.png"]
    index = read_pose_index(out)
    assert np.allclose(index["y.png"], far) and not made_at_other_pose(index, "y.png", far)
    assert made_at_other_pose(index, "y.png", near) and not made_at_other_pose(index, "not-indexed.png", near)


def test_a_file_render_did_not_write_is_never_rendered_over(tmp_path, model, capsys):
    """--out the query folder itself: a render named as a photo there would replace the photo. A file with no depth
    beside it that render_poses.json does not list is not ours: refused per view, the rest rendered; a depth file
    left without its RGB (a run killed between the two) is ours and is completed."""
    out = tmp_path / "queries"
    (out / "test").mkdir(parents=True)
    (out / "test" / "r_0.png").write_bytes(b"the user's photo")
    np.save(out / "test" / "r_2.npy", np.zeros((48, 64), np.float32))  # depth written, then killed
    q = "1 0 0 0 0 0 3"
    (tmp_path / "poses.txt").write_text("".join(f"test/r_{i}.png {q}\n" for i in range(3)))
    argv = ["render", "--model", str(model), "--poses", str(tmp_path / "poses.txt"), "--intrinsics",
            "50,50,31.5,23.5,64,48", "--out", str(out), "--device", "cpu", "--backend", "torch"]  # fmt: skip
    assert main(argv) == 1
    assert (out / "test" / "r_0.png").read_bytes() == b"the user's photo" and not (out / "test" / "r_0.npy").exists()
    failures = json.loads((out / "render_failures.json").read_text())
    assert list(failures) == ["test/r_0.png"] and "gscpr render did not write" in failures["test/r_0.png"]
    assert (
        cv2.imread(str(out / "test" / "r_1.png")) is not None and cv2.imread(str(out / "test" / "r_2.png")) is not None
    )
    assert np.load(out / "test" / "r_2.npy").shape == (48, 64)
    assert "rendered 2" in capsys.readouterr().out
