"""``gscpr train`` and the original's script names that call it."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gscpr.cli import main
from gscpr.splat.act import load_act_checkpoint
from gscpr.splat.model import load_scene_model
from gscpr.splat.scaffold import load_scaffold
from gscpr.synthetic import textured_room, write_blender_scene
from gscpr.training.command import ModelExistsError, train

from .fixtures import write_colmap_scene

ROOT = Path(__file__).resolve().parents[2]


def test_train_command_on_a_blender_folder(tmp_path):
    box = textured_room(n_side=12, half=0.6, seed=4)
    write_blender_scene(tmp_path / "scene", box, n_train=6, n_test=2, width=48, focal=45.0)
    out = tmp_path / "model"
    args = ["train", "--data", str(tmp_path / "scene"), "--out", str(out), "--iterations", "20", "--sh-degree", "0",
            "--init-points", "500", "--eval-steps", "20", "--save-steps", "10", "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    assert (out / "point_cloud" / "iteration_10" / "point_cloud.ply").is_file()
    model = load_scene_model(out)  # the latest iteration
    assert len(model) == 500 and (out / "ckpt_20.pt").is_file()
    cfg = (out / "config.json").read_text()
    assert '"background": [\n  1.0' in cfg  # Blender scenes train on white
    assert main([*args, "--resume", "--iterations", "30"]) == 0
    assert (out / "ckpt_30.pt").is_file()
    assert main(["train", "--data", str(tmp_path / "nothing"), "--out", str(out), "--device", "cpu"]) == 2


def test_train_api_returns_the_saved_model_and_resumes_a_finished_run(tmp_path):
    """What ``gscpr bench`` calls: train(), then the same call again finds the model trained."""
    write_blender_scene(tmp_path / "scene", textured_room(n_side=8, half=0.6, seed=6), n_train=3, n_test=1,
                        width=32, focal=30.0)  # fmt: skip
    kw = dict(iterations=4, resume=True, device="cpu", eval_steps=(4,), save_steps=(), init_points=200,
              sh_degree=0, verbose=False)  # fmt: skip
    result = train(tmp_path / "scene", tmp_path / "model", **kw)
    assert result.ply == tmp_path / "model" / "point_cloud" / "iteration_4" / "point_cloud.ply"
    assert result.ply.is_file() and result.step == 4 and result.format == "blender"
    assert [e["step"] for e in result.evals] == [4] and result.evals[0]["num_gaussians"] == 200
    assert len(load_scene_model(result.model_dir)) == 200
    again = train(tmp_path / "scene", tmp_path / "model", **kw)
    assert again.ply == result.ply and again.step == 4 and again.evals == []
    with pytest.raises(ValueError, match="scaffold"):
        train(tmp_path / "scene", tmp_path / "other", colour="act", device="cpu", verbose=False)


def test_original_script_names_train_with_act_and_masks(tmp_path):
    """train_scaffold_act.sh runs `gscpr train --model scaffold --act --masks` per Cambridge scene, into the folder
    the render scripts read (here on a generated scene in the original's layout, a few CPU steps)."""
    box = textured_room(n_side=10, half=0.6, seed=5)
    data = tmp_path / "ACT_Scaffold_GS" / "data"
    train = data / "cambridge" / "scene_ShopFacade" / "train"
    write_blender_scene(train, box, n_train=4, n_test=1, width=40, focal=38.0)
    masks = data / "Cambridge_semantic" / "ShopFacade_semantic_train"
    masks.mkdir(parents=True)
    import imageio.v3 as iio

    for png in sorted((train / "train").glob("*.png")):  # a white mask with a black band: ignored pixels
        m = np.full((40, 40), 255, dtype=np.uint8)
        m[:8] = 0
        iio.imwrite(masks / f"train_{png.stem}.png", m)  # GS-CPR flattens "train/r_0.png" to this
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT / "src")}  # this checkout's gscpr, not the installed one  # fmt: skip
    cmd = ["bash", str(ROOT / "train_scaffold_act.sh"), "--scenes", "ShopFacade", "--iterations", "12",
           "--voxel_size", "0.1", "--", "--device", "cpu", "--eval-steps", "12", "--save-steps",
           "--init-points", "400"]  # a few hundred anchors: CPU steps take 1 s, not 30  # fmt: skip
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    it = train / "output" / "point_cloud" / "iteration_12"
    assert (it / "point_cloud.ply").is_file() and (it / "act.pt").is_file() and (it / "color_mlp.pt").is_file()
    assert "test PSNR" in out.stdout
    act = train / "output" / "act.pt"  # where the render scripts pick a trained ACT up: next to point_cloud/
    assert act.is_file() and f"ACT: {act.relative_to(tmp_path)}" in out.stdout
    assert load_act_checkpoint(act).state_dict().keys() == load_act_checkpoint(it / "act.pt").state_dict().keys()
    assert len(load_scaffold(train / "output")) > 0
    bad = subprocess.run(["bash", str(ROOT / "train_scaffold.sh"), "--bogus"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "unknown option --bogus" in bad.stderr


def test_ratio_lod_warmup_all_views_and_the_cfg_args_of_a_scaffold_run(tmp_path, capsys):
    """The original's --ratio (anchors from every ratio-th SfM point), --lod (recorded), --warmup (two passes, the
    second from the SfM points again on a COLMAP scene) and no --eval (every view trains); cfg_args has every
    field of the original's and evaluates to a Namespace as its render scripts read it."""
    from argparse import Namespace

    from gscpr.splat.scaffold import CFG_ARGS_FIELDS

    xyz = write_colmap_scene(tmp_path / "train")
    out = tmp_path / "model"
    kw = dict(model="scaffold", iterations=2, eval_steps=(), save_steps=(), device="cpu", update_init_factor=8)
    result = train(tmp_path / "train", out, ratio=3, lod=5, warmup=True, all_views=True, **kw)
    said = capsys.readouterr().out
    assert "warm-up pass: 2 steps" in said and "second pass from the SfM points again" in said
    assert "colmap scene: 5 training and 0 test views" in said and result.evals == []
    assert len(load_scaffold(out)) == len(xyz[::3])  # 0.001 voxels keep every one of the points
    rows = (out / "train_log.csv").read_text().splitlines()
    assert len(rows) == 1 + 2  # the header, a row for the last step of each pass
    ns = eval((out / "cfg_args").read_text(), {"Namespace": Namespace})
    assert list(vars(ns))[: len(CFG_ARGS_FIELDS)] == list(CFG_ARGS_FIELDS)
    got = (ns.ratio, ns.lod, ns.eval, ns.update_init_factor, ns.appearance_dim, ns.voxel_size)
    assert got == (3, 5, False, 8, 0, 0.001)
    assert ns.source_path == str((tmp_path / "train").resolve()) and ns.model_path == str(out)
    # The default run holds every 8th view out (eval=True) and keeps every point.
    plain = train(tmp_path / "train", tmp_path / "plain", **kw, verbose=False)
    assert len(load_scaffold(plain.model_dir)) == len(xyz)
    assert eval((tmp_path / "plain" / "cfg_args").read_text(), {"Namespace": Namespace}).eval is True
    with pytest.raises(ValueError, match="model='scaffold'"):
        train(tmp_path / "train", tmp_path / "gs", ratio=2, device="cpu", verbose=False)


def test_an_existing_model_is_never_overwritten_without_overwrite(tmp_path, capsys):
    write_colmap_scene(tmp_path / "train", n_views=3, n_points=20)
    out = tmp_path / "model"
    kw = dict(model="scaffold", iterations=2, eval_steps=(), save_steps=(), device="cpu", verbose=False)
    train(tmp_path / "train", out, **kw)
    stale = out / "point_cloud" / "iteration_99"  # e.g. a released model's 30000
    stale.mkdir()
    with pytest.raises(ModelExistsError, match=f"{out} already holds a model .*pass --overwrite"):
        train(tmp_path / "train", out, **kw)
    args = ["train", "--data", str(tmp_path / "train"), "--out", str(out), "--model", "scaffold", "--iterations",
            "3", "--eval-steps", "--save-steps", "--device", "cpu"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(out) in err and "--overwrite" in err and "--resume continues it" in err
    assert stale.is_dir() and not (out / "ckpt_3.pt").exists()  # untouched
    assert main([*args, "--resume"]) == 0 and (out / "ckpt_3.pt").is_file()  # a checkpoint to continue from
    assert main([*args, "--overwrite"]) == 0
    assert "replacing the model in" in capsys.readouterr().out
    assert not stale.exists() and sorted(p.name for p in (out / "point_cloud").iterdir()) == ["iteration_3"]
    (out / "ckpt_3.pt").unlink()  # a released model has no checkpoint: resume cannot continue it
    assert main([*args, "--resume"]) == 2
    assert "--resume" not in capsys.readouterr().err


def test_mcmc_on_the_cpu_is_refused_saying_why_before_anything_is_read(tmp_path, capsys):
    """MCMC relocates and adds Gaussians with gsplat (CUDA); the CPU's reference rasterizer trains a fixed set."""
    with pytest.raises(ValueError, match="--strategy mcmc .* needs a CUDA GPU; on the CPU the reference rasterizer"):
        train(tmp_path / "no_data", tmp_path / "model", strategy="mcmc", device="cpu", verbose=False)
    argv = ["train", "--data", str(tmp_path / "no_data"), "--out", str(tmp_path / "model"), "--strategy", "mcmc",
            "--device", "cpu"]  # fmt: skip
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("gscpr train: error: --strategy mcmc") and "use --device cuda" in line
    assert not (tmp_path / "model").exists()
