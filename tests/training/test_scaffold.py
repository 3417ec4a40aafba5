"""Scaffold-GS training on the CPU (reference rasterizer): the fit improves while anchors grow and are pruned,
growth follows the original's voxel rule, the checkpoint is the original's format, resume is exact, and the
ACT and exposure colour models learn a brightness change."""

import csv

import numpy as np
import pytest
import torch

from gscpr.splat import render
from gscpr.splat.act import load_act_checkpoint
from gscpr.splat.scaffold import load_scaffold
from gscpr.synthetic import textured_room
from gscpr.training.loop import TrainView
from gscpr.training.scaffold import ScaffoldTrainConfig, ScaffoldTrainer, expon_lr, voxelize

from .test_gaussians import CAM, box_views


@pytest.fixture(scope="module")
def scene():
    """A textured box seen from 16 poses (12 to train on, 4 held out) and its splat centres as 'SfM' points."""
    box = textured_room(n_side=16, half=0.6, seed=3)
    points = box.means.numpy()
    return (*box_views(box), (points, np.zeros_like(points)))


def small_config(**kw) -> ScaffoldTrainConfig:
    base = dict(iterations=150, voxel_size=0.08, n_offsets=5, feat_dim=16, start_stat=10, update_from=40,
                update_interval=20, update_until=120, eval_steps=(), save_steps=(), log_every=50)  # fmt: skip
    return ScaffoldTrainConfig(**{**base, **kw})


def test_expon_lr_and_voxelize():
    assert expon_lr((0.01, 0.0001), 0, 100) == pytest.approx(0.01)
    assert expon_lr((0.01, 0.0001), 50, 100) == pytest.approx(0.001)
    assert expon_lr((0.01, 0.0001), 500, 100) == pytest.approx(0.0001)
    assert expon_lr((0.004, 0.004), 30, 100) == 0.004 and expon_lr((0.0, 0.0), 3, 10) == 0.0
    cells = voxelize(np.array([[0.01, 0.02, 0.0], [0.04, 0.0, 0.0], [0.26, 0.0, 0.0]]), 0.1)
    np.testing.assert_allclose(cells, [[0.0, 0.0, 0.0], [0.3, 0.0, 0.0]])


def test_training_improves_the_fit_while_anchors_grow(scene, tmp_path):
    train, test, init = scene
    trainer = ScaffoldTrainer(small_config(eval_steps=(150,)), train, tmp_path, init, device="cpu")
    n0 = len(trainer.model)
    assert n0 == len(voxelize(init[0], 0.08))
    before = trainer.evaluate(test)["psnr"]
    after = trainer.train(test, progress=False)[0]
    assert after["psnr"] > before + 3.0
    assert len(trainer.model) > n0  # anchors were grown between steps 40 and 120
    with open(tmp_path / "train_log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [50, 100, 150] and "num_anchors" in rows[0]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


def test_growth_adds_new_voxels_once_and_pruning_drops_dark_anchors(scene, tmp_path):
    train, _, init = scene
    cfg = small_config(update_depth=1, update_init_factor=1, hierarchy_factor=4)
    t = ScaffoldTrainer(cfg, train, tmp_path, init, device="cpu")
    m, k = t.model, cfg.n_offsets
    n0 = len(m)
    with torch.no_grad():
        # Two children of anchor 0 point to one empty voxel, one of anchor 1 to an occupied one.
        m.log_scaling.zero_()
        empty = m.anchors[0] + torch.tensor([5.0, 5.0, 5.0])
        m.offsets[0, 0], m.offsets[0, 1] = empty - m.anchors[0], empty + 0.01 - m.anchors[0]
        m.offsets[1, 0] = m.anchors[2] - m.anchors[1]
        m.features[0, 0], m.features[0, 1] = 1.0, 2.0  # max over the children that fall in one voxel
    s = t.strategy_state
    s["offset_denom"][:] = 100
    s["offset_grad_accum"][[0, 1, k]] = 1.0  # mean gradient 0.01 >= 0.0002, the rest 0
    # Every anchor was seen enough; anchor 3's children were never opaque: it goes.
    s["anchor_denom"][:] = 100
    s["opacity_accum"][:] = 100
    s["opacity_accum"][3] = 0
    torch.manual_seed(1)  # the random half of the candidates that level 0 keeps
    kept = torch.rand(n0 * k) > 0.5
    torch.manual_seed(1)
    t.strategy.adjust_anchors(m, t.optimizer, s)
    added = int(kept[0] or kept[1])
    assert len(m) == n0 - 1 + added
    if added:
        torch.testing.assert_close(m.anchors[-1], torch.round(empty / 0.08) * 0.08)
        assert float(m.features[-1, 0].detach()) == (2.0 if kept[1] else 1.0)
        assert torch.all(m.offsets[-1] == 0)
    assert len(s["opacity_accum"]) == len(m) and len(s["offset_denom"]) == len(m) * k
    assert float(m.log_scaling[:, 3:].max().detach()) <= 0.05


def test_saved_model_is_the_original_format_and_resume_is_exact(scene, tmp_path):
    train, test, init = scene
    straight = ScaffoldTrainer(small_config(iterations=80, save_steps=(80,)), train, tmp_path / "a", init, device="cpu")
    straight.train(progress=False)
    model = load_scaffold(tmp_path / "a")
    assert len(model) == len(straight.model) and model.config.n_offsets == 5
    ours = straight.render_view(test[0])
    theirs = render(model, CAM, test[0].pose, backend="torch").rgb
    torch.testing.assert_close(ours.clamp(0, 1), theirs, rtol=0, atol=1e-4)

    halfway = ScaffoldTrainer(small_config(iterations=80), train, tmp_path / "b", init, device="cpu")
    halfway.train(progress=False, until=50)  # anchors grow at step 60, after the resume
    resumed = ScaffoldTrainer(small_config(iterations=80), train, tmp_path / "b", init, device="cpu")
    assert resumed.resume() and resumed.step == 50
    resumed.train(progress=False)
    assert len(resumed.model) == len(straight.model)
    for k, v in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v, rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def mixed_exposure(scene):
    """The training views with every other image 40 % darker: a colour model, not the scene, should absorb it."""
    train, _, init = scene
    views = [TrainView((v.image * (0.6 if i % 2 else 1.0)).astype(np.float32), v.camera, v.pose)
             for i, v in enumerate(train)]  # fmt: skip
    return views, init


@torch.no_grad()
def training_l1(trainer: ScaffoldTrainer) -> float:
    """Mean L1 of the training views as the loss sees them (with their colour transforms)."""
    errs = []
    for i in range(len(trainer.views)):
        gt = trainer.target(i)
        errs.append(float((trainer.render_training_view(i)[0].clamp(0, 1) - gt).abs().mean()))
    return float(np.mean(errs))


@pytest.fixture(scope="module")
def plain_l1(mixed_exposure, tmp_path_factory):
    views, init = mixed_exposure
    plain = ScaffoldTrainer(small_config(iterations=120), views, tmp_path_factory.mktemp("plain"), init, device="cpu")
    plain.train(progress=False)
    return training_l1(plain)


@pytest.mark.parametrize("colour", ["act", "exposure"])
def test_colour_models_absorb_exposure_changes(mixed_exposure, plain_l1, tmp_path, colour):
    views, init = mixed_exposure
    cfg = small_config(iterations=120, colour=colour, lr_colour=5e-3, save_steps=(120,))
    trainer = ScaffoldTrainer(cfg, views, tmp_path, init, device="cpu")
    trainer.train(progress=False)
    assert training_l1(trainer) < 0.85 * plain_l1
    saved = tmp_path / "point_cloud" / "iteration_120" / f"{colour}.pt"
    assert saved.is_file()
    if colour == "act":  # what refinement loads to transform renders by the query's histogram
        act = load_act_checkpoint(saved)
        torch.testing.assert_close(act.layers[0].weight, trainer.colour.layers[0].weight)
