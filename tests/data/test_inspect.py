from gscpr.cli import main

from .fixtures import make_ace_scene


def test_inspect_summarises_a_dataset(tmp_path, capsys):
    make_ace_scene(tmp_path / "pgt_7scenes_chess", [f"seq-01-frame-{i:06d}.color.png" for i in range(3)], 525.0)
    assert main(["inspect", str(tmp_path / "pgt_7scenes_chess")]) == 0
    out = capsys.readouterr().out
    assert "ace dataset, split test" in out and "frames: 3 (3 with poses)" in out and "64x48 (3)" in out
    assert "focal: 525.00 - 525.00 px" in out


def test_inspect_bad_folder_exits_2(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) == 2
    assert "unknown dataset format" in capsys.readouterr().err


def test_inspect_real_lego(shared_data, capsys):
    assert main(["inspect", str(shared_data("nerf_synthetic", "lego"))]) == 0
    out = capsys.readouterr().out
    assert "blender dataset" in out and "frames: 50" in out and "skipped 150 of 200" in out


def test_inspect_dataset_is_the_python_form(tmp_path):
    from gscpr.data.inspect import inspect_dataset

    make_ace_scene(tmp_path / "pgt_7scenes_chess", [f"seq-01-frame-{i:06d}.color.png" for i in range(2)], 525.0)
    summary = inspect_dataset(tmp_path / "pgt_7scenes_chess")
    assert summary.kind == "ace" and len(summary.frames) == 2 and summary.split == "test"
    assert summary.lines()[1] == "  frames: 2 (2 with poses)"


def test_inspect_split_all_and_a_fisheye_camera(tmp_path, capsys):
    import json

    from .fixtures import write_image

    scene = tmp_path / "pgt_7scenes_chess"
    make_ace_scene(scene, ["seq-03-frame-000000.color.png"], 525.0)
    make_ace_scene(scene, [f"seq-01-frame-{i:06d}.color.png" for i in range(2)], 525.0, split="train")
    assert main(["inspect", str(scene), "--split", "all"]) == 0
    assert "ace dataset, split all\n  frames: 3 (3 with poses)" in capsys.readouterr().out
    write_image(tmp_path / "ngp" / "a.png", 40, 30)
    frames = [{"file_path": "a.png", "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}]
    ngp = {"camera_angle_x": 1.0, "w": 40, "h": 30, "is_fisheye": True, "k1": 0.1, "frames": frames}
    (tmp_path / "ngp" / "transforms.json").write_text(json.dumps(ngp))
    assert main(["inspect", str(tmp_path / "ngp"), "--split", "all"]) == 0
    assert "distortion: fisheye (0.1, 0.0, 0.0, 0.0) (first such frame)" in capsys.readouterr().out
