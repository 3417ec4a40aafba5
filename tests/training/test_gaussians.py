"""3DGS training on the CPU (reference rasterizer): the fit improves, checkpoints round-trip, resume is exact."""

import csv

import numpy as np
import pytest
import torch

from gscpr.camera import Camera
from gscpr.splat import load_ply, render
from gscpr.splat.model import load_scene_model
from gscpr.synthetic import look_at_origin, textured_room
from gscpr.training.gaussians import TrainConfig, Trainer
from gscpr.training.loop import TrainView

CAM = Camera.centered(64, 48, 55.0)


def box_views(box) -> tuple[list[TrainView], list[TrainView]]:
    """``box`` seen from 16 poses around it: 12 to train on, 4 held out (the training tests' scene)."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(16):
        pose = look_at_origin(rng)
        out.append(TrainView(render(box, CAM, pose, backend="torch").rgb[0].numpy(), CAM, pose))
    return out[:12], out[12:]


@pytest.fixture(scope="module")
def views():
    """A small textured box seen from 16 poses around it (12 to train on, 4 held out)."""
    return box_views(textured_room(n_side=16, half=0.6, seed=3))


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def small_config(**kw) -> TrainConfig:
    base = dict(iterations=120, sh_degree=1, sh_degree_interval=60, init_points=2000, eval_steps=(), save_steps=(),
                log_every=20)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_training_improves_the_fit_on_held_out_views(views, tmp_path):
    train, test = views
    trainer = Trainer(small_config(eval_steps=(60, 120)), train, tmp_path, device="cpu")
    before = trainer.evaluate(test)["psnr"]
    evals = trainer.train(test, progress=False)
    assert [e["step"] for e in evals] == [60, 120]
    assert evals[1]["psnr"] > evals[0]["psnr"] > before + 2.0
    rows = read_csv(tmp_path / "train_log.csv")
    assert [int(r["step"]) for r in rows] == [20, 40, 60, 80, 100, 120]
    assert float(rows[-1]["loss"]) < 0.7 * float(rows[0]["loss"])
    assert [int(r["sh_degree"]) for r in rows] == [0, 0, 0, 1, 1, 1]  # one more SH degree after 60 steps
    assert len(read_csv(tmp_path / "eval.csv")) == 3  # the manual one and two in train()


def test_saved_model_renders_like_the_trainer_and_resume_is_exact(views, tmp_path):
    train, _ = views
    straight = Trainer(small_config(iterations=60, save_steps=(60,)), train, tmp_path / "a", device="cpu")
    straight.train(progress=False)
    ply = tmp_path / "a" / "point_cloud" / "iteration_60" / "point_cloud.ply"
    g = load_ply(ply)
    assert g.sh_degree == 1 and len(g) == 2000
    assert isinstance(load_scene_model(tmp_path / "a"), type(g))
    ours = render(straight.gaussians(), CAM, train[0].pose, backend="torch").rgb
    theirs = render(g, CAM, train[0].pose, backend="torch").rgb
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)

    halfway = Trainer(small_config(iterations=60), train, tmp_path / "b", device="cpu")
    halfway.train(progress=False, until=30)
    assert (tmp_path / "b" / "ckpt_30.pt").is_file()
    resumed = Trainer(small_config(iterations=60), train, tmp_path / "b", device="cpu")
    assert resumed.resume() and resumed.step == 30
    resumed.train(progress=False)
    for k in straight.params:
        torch.testing.assert_close(resumed.params[k], straight.params[k], rtol=0, atol=1e-6)
    steps = [int(r["step"]) for r in read_csv(tmp_path / "b" / "train_log.csv")]
    assert steps == [20, 40, 60]  # one log, going on where it stopped
