"""train_scaffold.sh / train_scaffold_act.sh with the original's options: what each one asks of `gscpr train`
(a recording stand-in, fast) and its effect on a real run (a generated COLMAP scene, a few CPU steps)."""

import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from gscpr.splat.scaffold import load_scaffold

from ..training.fixtures import write_colmap_scene

ROOT = Path(__file__).resolve().parents[2]


def run_script(cwd: Path, *args: str, gscpr_bin: Path | None = None, script: str = "train_scaffold.sh"):
    """The script run with bash from ``cwd`` (the GS-CPR root), this checkout's gscpr first on the path."""
    path = f"{gscpr_bin}:" if gscpr_bin else ""
    env = {**os.environ, "PATH": f"{path}{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.run(["bash", str(ROOT / script), *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture
def recorder(tmp_path):
    """A stand-in `gscpr` that records each call's arguments and CUDA_VISIBLE_DEVICES, one line per call."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    (bin_dir / "gscpr").write_text(f'#!/bin/bash\necho "gpu=${{CUDA_VISIBLE_DEVICES:-}} $*" >> {log}\n')
    (bin_dir / "gscpr").chmod(0o755)

    def calls(*args: str, script: str = "train_scaffold.sh") -> list[str]:
        log.unlink(missing_ok=True)
        done = run_script(tmp_path, *args, gscpr_bin=bin_dir, script=script)
        assert done.returncode == 0, done.stderr
        return log.read_text().splitlines()

    return calls


def test_every_original_option_reaches_gscpr_train(recorder, tmp_path):
    data = tmp_path / "ACT_Scaffold_GS" / "data"
    (data / "7scenes" / "scene_chess" / "train").mkdir(parents=True)
    [call] = recorder("-d", "7scenes/scene_chess", "-l", "exp1", "--lod", "3", "--gpu", "2", "--warmup", "True",
                      "--voxel_size", "0.01", "--update_init_factor", "8", "--appearance_dim", "16", "--ratio", "5",
                      "--iterations", "30_000", "--overwrite")  # fmt: skip
    words = call.split()
    assert words[0] == "gpu=2" and words[1] == "train"
    opts = dict(zip(words[2::1], words[3::1], strict=False))
    assert opts["--data"] == "ACT_Scaffold_GS/data/7scenes/scene_chess/train"  # -d: the original's data/<D>/train
    out = Path(opts["--out"])  # -l: the original's outputs/<D>/<logdir>/<time>
    assert out.parent == Path("ACT_Scaffold_GS/outputs/7scenes/scene_chess/exp1") and out.name[:2] == "20"
    assert (opts["--lod"], opts["--voxel-size"], opts["--update-init-factor"]) == ("3", "0.01", "8")
    assert (opts["--appearance-dim"], opts["--ratio"], opts["--iterations"]) == ("16", "5", "30000")
    assert {"--warmup", "--overwrite", "--all-views"} <= set(words) and "--act" not in words
    [call] = recorder("-d", "ACT_Scaffold_GS/data/7scenes/scene_chess/train/")  # the folder itself: the same scene
    assert "--data ACT_Scaffold_GS/data/7scenes/scene_chess/train --out" in call
    # Defaults: the original's values, every scene of the datasets, into train/output where the renders look,
    # no warm-up unless V is True, no --overwrite, the GPU left alone.
    calls = recorder("--datasets", "7scenes 12scenes", "--warmup", "False")
    assert len(calls) == 7 + 12 and all(c.startswith("gpu= train") for c in calls)
    first = calls[0].split()
    assert first[first.index("--out") + 1] == "ACT_Scaffold_GS/data/7scenes/scene_chess/train/output"
    assert "--warmup" not in first and "--overwrite" not in first
    assert [first[first.index(k) + 1] for k in ("--voxel-size", "--update-init-factor", "--appearance-dim",
            "--ratio", "--lod", "--iterations")] == ["0.001", "4", "0", "1", "0", "30000"]  # fmt: skip
    # train_scaffold_act.sh: the Cambridge scenes with ACT, masks where GS-CPR's semantic folder exists.
    (data / "Cambridge_semantic" / "ShopFacade_semantic_train").mkdir(parents=True)
    calls = recorder("--gpu", "-1", script="train_scaffold_act.sh")
    assert len(calls) == 4 and all("--act" in c for c in calls)
    assert [("--masks" in c) for c in calls] == [False, True, False, False]  # KingsCollege, ShopFacade, ...
    # --resume is the script's own option (and still reaches gscpr train with extra arguments after --)
    [call] = recorder("--datasets", "7scenes", "--scenes", "chess", "--resume", "--", "--device", "cpu")
    assert call.split()[-3:] == ["--resume", "--device", "cpu"]
    bad = run_script(tmp_path, "--warmup")  # the original's --warmup takes a value
    assert bad.returncode == 2 and bad.stderr.strip() == "train_scaffold.sh: --warmup needs a value"


def test_original_options_on_a_real_run_and_no_overwrite_without_the_flag(tmp_path):
    train = tmp_path / "ACT_Scaffold_GS" / "data" / "7scenes" / "scene_chess" / "train"
    xyz = write_colmap_scene(train, n_views=3, n_points=30)
    fast = ["--iterations", "2", "--", "--device", "cpu", "--eval-steps", "--save-steps"]
    done = run_script(tmp_path, "-d", "7scenes/scene_chess", "-l", "exp1", "--ratio", "2", "--lod", "3",
                      "--warmup", "True", "--gpu", "-1", *fast)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    [out] = (tmp_path / "ACT_Scaffold_GS" / "outputs" / "7scenes" / "scene_chess" / "exp1").iterdir()
    assert "warm-up pass" in done.stdout and "3 training and 0 test views" in done.stdout
    assert len(load_scaffold(out)) == len(xyz[::2])
    ns = eval((out / "cfg_args").read_text(), {"Namespace": Namespace})
    assert (ns.ratio, ns.lod, ns.eval, ns.update_init_factor, ns.voxel_size) == (2, 3, False, 4, 0.001)
    assert ns.source_path == str(train.resolve())
    # The default output is the folder the render scripts read: trained once, then refused, then replaced.
    assert run_script(tmp_path, "--datasets", "7scenes", "--scenes", "chess", *fast).returncode == 0
    model = train / "output"
    before = (model / "cfg_args").read_text()
    again = run_script(tmp_path, "--datasets", "7scenes", "--scenes", "chess", *fast)
    assert again.returncode == 2
    [line] = again.stderr.strip().splitlines()
    assert "ACT_Scaffold_GS/data/7scenes/scene_chess/train/output already holds a model" in line
    assert "--overwrite" in line
    assert (model / "cfg_args").read_text() == before
    forced = run_script(tmp_path, "--datasets", "7scenes", "--scenes", "chess", "--overwrite", *fast)
    assert forced.returncode == 0 and "replacing the model in" in forced.stdout


@pytest.mark.parametrize("datasets", ["foo", "7scenes foo", "cambridge 7Scenes"])
def test_an_unknown_dataset_stops_before_any_training(tmp_path, datasets):
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    (bin_dir / "gscpr").write_text(f'#!/bin/bash\necho "$*" >> {log}\n')
    (bin_dir / "gscpr").chmod(0o755)
    for args in (["--datasets", datasets], ["--datasets", datasets, "--scenes", "chess"]):
        done = run_script(tmp_path, *args, gscpr_bin=bin_dir)
        bad = datasets.split()[-1]
        assert done.returncode == 2 and not log.exists(), (done.stdout, done.stderr)
        assert done.stderr.strip() == f"train_scaffold.sh: unknown dataset {bad} (7scenes, 12scenes or cambridge)"
    act = run_script(tmp_path, "--datasets", datasets, gscpr_bin=bin_dir, script="train_scaffold_act.sh")
    assert act.returncode == 2 and not log.exists()
