"""gscpr render on the paper's datasets (--dataset): the original's layout, intrinsics, ACT and render scripts."""

import json

import numpy as np
import pytest
import torch

from gscpr.cli import main
from gscpr.paper import render_dir

from .fixtures import make_cambridge_queries, make_paper_root, write_project_act, write_released_act


@pytest.fixture(scope="module")
def seven(tmp_path_factory):
    root = tmp_path_factory.mktemp("gscpr7")
    names = ["seq-03-frame-000000.color.png", "seq-03-frame-000001.color.png"]
    make_paper_root(root, "7scenes", "chess", "ace", names)
    return root, names


def test_paper_layout_for_7scenes(seven, monkeypatch):
    root, names = seven
    # A small render size keeps the CPU reference fast; the paper's is 640x480 at f = 526.22.
    from dataclasses import replace

    from gscpr import paper

    small = replace(paper.DATASETS["7scenes"], render_size=(80, 60), focal={"chess": 65.0})
    monkeypatch.setitem(paper.DATASETS, "7scenes", small)
    args = ["render", "--dataset", "7scenes", "--scene", "chess", "--estimator", "ace", "--root", str(root)]
    assert main([*args, "--device", "cpu", "--backend", "torch"]) == 0
    out = render_dir(root, "7scenes", "chess", "ace")
    assert out.as_posix().endswith(
        "ACT_Scaffold_GS/data/7scenes/scene_chess/test/evaluate_ace/train_output/render_single_view"
    )
    import cv2

    for n in names:
        img = cv2.imread(str(out / n))
        depth = np.load(out / n.replace(".png", ".npy"))
        assert img.shape == (60, 80, 3) and depth.shape == (60, 80) and depth.dtype == np.float32
        assert (depth > 0).mean() > 0.2 and 1.0 < np.median(depth[depth > 0]) < 5.0  # the scene ~3 m away
    # Resumable: a second run renders nothing.
    before = (out / names[0]).stat().st_mtime_ns
    assert main([*args, "--device", "cpu", "--backend", "torch"]) == 0
    assert (out / names[0]).stat().st_mtime_ns == before


def test_cambridge_per_image_focal_and_act(tmp_path, capsys):
    names = ["seq1_frame00001.png", "seq2_frame00003.png"]
    info = make_paper_root(tmp_path, "cambridge", "ShopFacade", "dfnet", [n.replace("_", "/", 1) for n in names])
    gt = {n: info["gt"][n.replace("_", "/", 1)] for n in names}
    make_cambridge_queries(tmp_path / "datasets", "ShopFacade", names, gt)
    from gscpr.splat.act import ACTModule

    act = ACTModule()
    torch.nn.init.zeros_(act.layers[-1].weight)  # A = 0, b = 0: every pixel becomes sigmoid(0) = 0.5
    params = torch.cat([torch.cat([layer.weight.detach().reshape(-1) for layer in act.layers[:-1]]),
                        torch.zeros(16 * 32)]).half()  # fmt: skip
    torch.save({"network_fn_state_dict": {"exposure_embedding.params": params}}, tmp_path / "030000.tar")
    args = [
        "render",
        "--dataset",
        "cambridge",
        "--scene",
        "ShopFacade",
        "--estimator",
        "dfnet",
        "--root",
        str(tmp_path),
    ]
    assert main([*args, "--act", str(tmp_path / "030000.tar"), "--device", "cpu", "--backend", "torch"]) == 0
    out = render_dir(tmp_path, "cambridge", "ShopFacade", "dfnet")
    import cv2

    img = cv2.imread(str(out / "seq1" / "frame00001.png"))
    assert img.shape == (54, 96, 3)  # the full-resolution query size
    assert np.all(img == 128)  # the ACT output sigmoid(0) everywhere
    depth = np.load(out / "seq2" / "frame00003.npy")
    assert depth.shape == (54, 96) and (depth > 0).any()


def test_cambridge_renders_take_the_act_weights_found_and_the_original_names(tmp_path, capsys):
    """No --act: a project-trained act.pt in the model's folder is used (per-pixel layout), else the released
    030000.tar; ACE-named poses (seqN_frameM.png) are written where the original writes them (seqN/frameM.png)."""
    import cv2

    from gscpr.paper import model_dir
    from gscpr.paper.datasets import released_act_path

    names = ["seq1_frame00001.png", "seq2_frame00003.png"]
    info = make_paper_root(tmp_path, "cambridge", "ShopFacade", "ace", names)
    make_cambridge_queries(tmp_path / "datasets", "ShopFacade", names, info["gt"])
    args = ["render", "--dataset", "cambridge", "--scene", "ShopFacade", "--estimator", "ace", "--root", str(tmp_path)]
    args += ["--device", "cpu", "--backend", "torch", "--overwrite"]
    out = render_dir(tmp_path, "cambridge", "ShopFacade", "ace")

    def colour():
        img = cv2.imread(str(out / "seq1" / "frame00001.png"))
        assert img is not None and (out / "seq1" / "frame00001.npy").is_file()
        assert not (out / "seq1_frame00001.png").exists()
        return set(np.unique(img).tolist())

    assert main(args) == 0
    assert "no ACT weights" in capsys.readouterr().err and len(colour()) > 1  # a plain render
    write_released_act(released_act_path(tmp_path, "ShopFacade"))  # sigmoid(0) = 0.5 -> 128
    assert main(args) == 0
    assert "030000.tar (legacy channel layout)" in capsys.readouterr().err and colour() == {128}
    act_pt = write_project_act(model_dir(tmp_path, "cambridge", "ShopFacade") / "act.pt", bias=1.0)
    assert main(args) == 0
    assert f"{act_pt} (per-pixel RGB)" in capsys.readouterr().err and colour() == {186}  # sigmoid(1) = 0.731
    assert main([*args, "--no-act"]) == 0 and len(colour()) > 1


def test_errors_exit_2(tmp_path, capsys):
    assert (
        main(["render", "--dataset", "7scenes", "--scene", "chess", "--estimator", "ace", "--root", str(tmp_path)]) == 2
    )
    assert "no such pose file" in capsys.readouterr().err
    assert main(["render", "--dataset", "12scenes", "--scene", "apt1_kitchen", "--estimator", "dfnet"]) == 2
    assert "no 'dfnet' coarse poses for 12scenes" in capsys.readouterr().err


def test_original_script_names_call_gscpr_render(seven, tmp_path):
    import os
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    # A stub `gscpr` on PATH records the calls: the scripts must pass the paper's arguments through.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.txt"
    (bin_dir / "gscpr").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (bin_dir / "gscpr").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", str(repo / "script_render_pred_7s.sh"), "--device", "cpu"], check=True, env=env)
    calls = log.read_text().splitlines()
    assert len(calls) == 4 * 7
    assert calls[0] == "render --dataset 7scenes --scene chess --estimator ace --device cpu"
    log.unlink()
    subprocess.run(["bash", str(repo / "script_render_pred_cam.sh")], check=True, env=env, cwd=tmp_path,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    assert log.read_text().splitlines()[0] == "render --dataset cambridge --scene KingsCollege --estimator dfnet"


def test_12scenes_renders_are_the_originals_jpeg_75_and_rasterizer(tmp_path, monkeypatch):
    # The original's render_pred_12s.py writes frame-*.color.jpg with torchvision's save_image: PIL's default
    # JPEG quality 75 (libjpeg's standard tables scaled to 75, 4:2:0 chroma).
    import io
    from dataclasses import replace

    from PIL import Image

    from gscpr import paper
    from gscpr.paper.render import render_defaults

    small = replace(paper.DATASETS["12scenes"], render_size=(96, 72), focal={"apt1_kitchen": 85.0})
    monkeypatch.setitem(paper.DATASETS, "12scenes", small)
    names = ["frame-000000.color.jpg", "frame-000001.color.jpg"]
    make_paper_root(tmp_path, "12scenes", "apt1_kitchen", "ace", names)
    args = ["render", "--dataset", "12scenes", "--scene", "apt1_kitchen", "--estimator", "ace", "--root", str(tmp_path)]
    assert main([*args, "--device", "cpu", "--backend", "torch"]) == 0
    out = render_dir(tmp_path, "12scenes", "apt1_kitchen", "ace")
    for n in names:
        written = Image.open(out / n)
        assert written.format == "JPEG" and written.size == (96, 72)
        pil = io.BytesIO()
        Image.fromarray(np.asarray(written.convert("RGB"))).save(pil, format="JPEG")  # PIL's default: 75
        assert written.quantization == Image.open(pil).quantization
        pil95 = io.BytesIO()
        Image.fromarray(np.asarray(written.convert("RGB"))).save(pil95, format="JPEG", quality=95)
        assert written.quantization != Image.open(pil95).quantization
    # The paper mode renders with the original's rasterizer settings; the generic mode keeps gsplat's and 95.
    assert render_defaults() == {"near_plane": 0.2, "alpha_cap": 0.99, "depth_eps": 1e-6, "jpeg_quality": 75}
    near = np.load(out / names[0].replace(".jpg", ".npy"))
    assert main([*args, "--device", "cpu", "--backend", "torch", "--overwrite", "--near-plane", "0.01",
                 "--alpha-cap", "0.999", "--depth-eps", "0", "--jpeg-quality", "95"]) == 0  # fmt: skip
    q95 = io.BytesIO()
    Image.fromarray(np.asarray(Image.open(out / names[0]).convert("RGB"))).save(q95, format="JPEG", quality=95)
    assert Image.open(out / names[0]).quantization == Image.open(q95).quantization
    assert not np.array_equal(np.load(out / names[0].replace(".jpg", ".npy")), near)


def test_a_damaged_query_image_fails_only_its_view(tmp_path, capsys):
    """ACT needs each query image: one cut short (its header read, its pixels not) fails its own view (reported,
    in render_failures.json) and the other views are rendered."""
    from PIL import Image

    names = ["seq1_frame00001.png", "seq2_frame00003.png"]
    info = make_paper_root(tmp_path, "cambridge", "ShopFacade", "dfnet", [n.replace("_", "/", 1) for n in names])
    gt = {n: info["gt"][n.replace("_", "/", 1)] for n in names}
    root = make_cambridge_queries(tmp_path / "datasets", "ShopFacade", names, gt)
    write_released_act(tmp_path / "030000.tar")
    bad = root / "seq2" / "frame00003.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (54, 96, 3), np.uint8)).save(bad)
    bad.write_bytes(bad.read_bytes()[:5000])  # an interrupted copy
    args = ["render", "--dataset", "cambridge", "--scene", "ShopFacade", "--estimator", "dfnet", "--root",
            str(tmp_path), "--act", str(tmp_path / "030000.tar"), "--device", "cpu", "--backend", "torch"]  # fmt: skip
    assert main(args) == 1  # some view failed
    out = render_dir(tmp_path, "cambridge", "ShopFacade", "dfnet")
    assert (out / "seq1" / "frame00001.png").is_file() and not (out / "seq2" / "frame00003.png").exists()
    failures = json.loads((out / "render_failures.json").read_text())
    assert failures == {"seq2/frame00003.png": f"no ACT colour transform: {bad}: damaged image, cannot be decoded "
                        "(image file is truncated)"}  # fmt: skip


@pytest.mark.parametrize(
    ("script", "count", "first", "last"),
    [
        ("script_render_pred_7s.sh", 4 * 7, "ace/chess", "glace/stairs"),
        ("script_render_pred_12s.sh", 3 * 12, "ace/apt1_kitchen", "glace/office2_5b"),
        ("script_render_pred_cam.sh", 3 * 4, "dfnet/KingsCollege", "glace/StMarysChurch"),
    ],
)
def test_render_scripts_exit_non_zero_when_any_scene_failed(tmp_path, script, count, first, last):
    """Every scene is tried; the exit status is the worst scene's, not the last one's; one summary line."""
    import os
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    fail = {first: 2, "marepo/" + first.split("/")[1]: 1}  # the first scene: bad input; another: a crash

    def run(failing: dict) -> subprocess.CompletedProcess:
        cases = "".join(f'    "{k}") echo "error: {k}" >&2; exit {v} ;;\n' for k, v in failing.items())
        (bin_dir / "gscpr").write_text(f'#!/bin/bash\necho "$@" >> {log}\ncase "$7/$5" in\n{cases}esac\n')
        (bin_dir / "gscpr").chmod(0o755)
        log.unlink(missing_ok=True)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        return subprocess.run(["bash", str(repo / script)], env=env, cwd=tmp_path, capture_output=True, text=True)

    done = run(fail)
    calls = log.read_text().splitlines()
    assert len(calls) == count and calls[-1].split()[-1] == last.split("/")[0]  # the last scene ran (and passed)
    failed = [k for k in fail if any(f"--scene {k.split('/')[1]} --estimator {k.split('/')[0]}" in c for c in calls)]
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr.splitlines()[-1] == f"{script}: {len(failed)} of {count} scene renders failed: {' '.join(failed)}"
    )
    done = run({})
    assert done.returncode == 0 and done.stderr == ""
    done = run({last: 1})
    assert done.returncode == 1 and done.stderr.splitlines() == [
        f"error: {last}",
        f"{script}: 1 of {count} scene renders failed: {last}",
    ]


@pytest.mark.parametrize(
    ("dataset", "scene"), [("7scenes", "chess"), ("12scenes", "apt1_kitchen"), ("cambridge", "ShopFacade")]
)
def test_a_missing_pose_file_is_one_line_per_scene(tmp_path, capsys, dataset, scene):
    assert main(["render", "--dataset", dataset, "--scene", scene, "--estimator", "ace", "--root", str(tmp_path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gscpr render: error: ") and line.endswith(": no such pose file") and scene in line
