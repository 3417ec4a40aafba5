"""``gscpr train`` (hloc style): :func:`train` does everything the command does; :func:`add_arguments` and
:func:`run` only parse the command line into it.

>>> result = train("data/nerf_synthetic/lego", "models/lego", iterations=30_000)
>>> result.ply   # models/lego/point_cloud/iteration_30000/point_cloud.ply
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..argtypes import (
    check_device,
    default_device,
    device_arg,
    finite_float,
    fraction,
    int_in,
    nonnegative_int,
    positive_int,
)
from ..data import detect_format, format_traits, load_colmap_points, load_dataset
from ..data.colmap import find_sparse_model
from ..data.frame import DatasetError
from ..outputs import output_folder
from ..splat.act import ACT_FILE
from ..text import plural
from .gaussians import STRATEGIES, TrainConfig, Trainer
from .loop import MAX_SIZE, RunConfig, load_masks, load_views
from .scaffold import ScaffoldTrainConfig, ScaffoldTrainer

__all__ = ["MODELS", "ModelExistsError", "TrainResult", "add_arguments", "existing_model", "run", "train"]

MODELS = ("3dgs", "scaffold")
# What a training run writes in its model folder (both models; Scaffold-GS adds cfg_args and its colour models).
_RUN_FILES = ("cfg_args", "point_cloud", ACT_FILE, "exposure.pt", "config.json", "train_log.csv", "eval.csv")


class ModelExistsError(FileExistsError):
    """The output folder already holds a model and neither ``overwrite`` nor a resumable ``resume`` was asked."""


def existing_model(out_dir: str | Path) -> list[str]:
    """The names of a model's files in ``out_dir`` (``point_cloud``, ``cfg_args``, ``ckpt_<N>.pt``, sorted); empty
    when there is no model there (a missing folder, or only logs of a run that never saved)."""
    out = Path(out_dir)
    found = [n for n in ("point_cloud", "cfg_args") if (out / n).exists()]
    return found + sorted(p.name for p in out.glob("ckpt_*.pt"))


def _remove_model(out: Path) -> None:
    """Delete what a training run writes in ``out`` (no other file): a replaced model leaves no stale iteration
    behind for ``load_scene_model`` (which loads the latest) to pick up."""
    for name in _RUN_FILES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for path in out.glob("ckpt_*.pt"):
        path.unlink()


@dataclass
class TrainResult:
    """What :func:`train` made.

    ``model_dir``: the model folder (Inria layout; ``gscpr.splat.model.load_scene_model`` reads it, any model);
    ``ply``: ``model_dir/point_cloud/iteration_<step>/point_cloud.ply``, the model at the last step (a 3DGS PLY,
    or Scaffold-GS's anchors next to its MLP files); ``step``: the last step; ``evals``: one row per evaluation
    made by this call (``step``, test ``psnr`` in dB and ``ssim``, ``num_gaussians`` or ``num_anchors``,
    training ``seconds``, ``views``), also appended to ``model_dir/eval.csv``; ``format``: the dataset format.
    """

    model_dir: Path
    ply: Path
    step: int
    evals: list[dict] = field(default_factory=list)
    format: str = ""


def train(
    data: str | Path,
    out_dir: str | Path,
    *,
    model: str = "3dgs",
    iterations: int = TrainConfig.iterations,
    max_size: int | None = MAX_SIZE,
    background: Sequence[float] | None = None,
    init_points: int | None = None,
    eval_steps: Sequence[int] = RunConfig.eval_steps,
    save_steps: Sequence[int] = RunConfig.save_steps,
    resume: bool = False,
    seed: int = RunConfig.seed,
    device: str | torch.device | None = None,
    strategy: str = TrainConfig.strategy,
    sh_degree: int = TrainConfig.sh_degree,
    refine_stop: int = TrainConfig.refine_stop,
    cap_max: int = TrainConfig.cap_max,
    voxel_size: float = ScaffoldTrainConfig.voxel_size,
    update_init_factor: int = ScaffoldTrainConfig.update_init_factor,
    appearance_dim: int = ScaffoldTrainConfig.appearance_dim,
    update_until: int = ScaffoldTrainConfig.update_until,
    colour: str = ScaffoldTrainConfig.colour,
    masks: str | Path | None = None,
    ratio: int = ScaffoldTrainConfig.ratio,
    lod: int = ScaffoldTrainConfig.lod,
    warmup: bool = False,
    all_views: bool = False,
    overwrite: bool = False,
    verbose: bool = True,
) -> TrainResult:
    """Train a scene model on the ``train`` split of the dataset at ``data`` into ``out_dir``; evaluate on its
    ``test`` split (none if it has no such split) at ``eval_steps`` and the last step.

    Args:
        data: a dataset folder of any format ``gscpr.data`` reads (COLMAP, Blender, instant-ngp, LLFF, ...).
            COLMAP and LLFF scenes start from their SfM points where there are some, others from
            ``init_points`` random points (default: the model config's).
        out_dir: the model folder: ``point_cloud/iteration_<N>/``, ``ckpt_<N>.pt``, ``config.json``,
            ``train_log.csv``, ``eval.csv`` (Scaffold-GS: also the original's ``cfg_args``, every field, and
            with ``colour="act"`` the trained ACT as ``out_dir/act.pt``). A folder that already holds a model is
            never overwritten unless ``overwrite`` (which first deletes the files a run writes there, nothing
            else) or ``resume`` (with a ``ckpt_<N>.pt`` to continue from).
        model: ``"3dgs"`` (:class:`~gscpr.training.gaussians.Trainer`) or ``"scaffold"``
            (:class:`~gscpr.training.scaffold.ScaffoldTrainer`).
        iterations: training steps. The model is saved at ``save_steps`` and always at the last step.
        max_size: images are downscaled to this long side (pixels).
        background: RGB in [0, 1] behind the scene; default white for Blender scenes, else black.
        resume: continue from the latest ``ckpt_<N>.pt`` in ``out_dir`` when there is one.
        overwrite: replace a model already in ``out_dir``.
        all_views: train on every view of a hold-out format (COLMAP, instant-ngp, LLFF: every 8th view is
            otherwise kept for testing), as the original's train.py does without ``--eval``; no test views then.
            Formats with their own splits keep them. ``cfg_args`` records ``eval`` = whether views were held out.
        device: ``"cuda"`` (gsplat; the 3DGS model grows) or ``"cpu"`` (reference rasterizer, fixed 3DGS set);
            default CUDA when available.
        strategy, sh_degree, refine_stop, cap_max: 3DGS options (:class:`~gscpr.training.gaussians.TrainConfig`).
        voxel_size, update_init_factor, appearance_dim, update_until, colour, masks: Scaffold-GS options
            (:class:`~gscpr.training.scaffold.ScaffoldTrainConfig`); ``masks`` is a folder of masks named like
            the images (white: pixels the loss sees).
        ratio, lod, warmup: the original's ``--ratio``, ``--lod`` and ``--warmup`` (Scaffold-GS only).
            ``ratio``: anchors from every ``ratio``-th initial point. ``lod``: recorded in ``cfg_args`` (the
            original uses it only with ``--eval``, which GS-CPR's scripts never pass; the splits here are the
            dataset's). ``warmup``: the original's two passes: a full training, then a second full training
            into the same folder; as in the original, the second pass starts again from the SfM points
            where the dataset has them (its COLMAP reader ignores the warm-up model) and from the warm-up's
            anchors otherwise (its Blender reader). The result is the second pass.
        verbose: print what is loaded and trained, and progress bars.

    Returns:
        a :class:`TrainResult` (``ply`` is the saved model at the last step).

    Raises:
        DatasetError: the dataset (or a mask) cannot be read. ValueError: an unknown option value, a device this
        machine does not have, ``strategy="mcmc"`` off CUDA, or a Scaffold-GS option (colour model, masks, ratio,
        lod, warmup) asked of a 3DGS model.
        ModelExistsError: ``out_dir`` holds a model and neither ``overwrite`` nor a resumable ``resume``.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)}")
    scaffold = model == "scaffold"
    if not scaffold and (colour != "none" or masks or ratio != 1 or lod or warmup):
        raise ValueError("colour models, masks, ratio, lod and warmup train with model='scaffold'")
    if overwrite and resume:
        raise ValueError("overwrite replaces the model and resume continues it: ask for one of them")
    if warmup and resume:
        raise ValueError("a warm-up run (two passes) cannot resume; train it again with overwrite")
    data, out = Path(data), Path(out_dir)
    device = check_device(device or default_device())
    if not scaffold and strategy == "mcmc" and torch.device(device).type != "cuda":
        raise ValueError("--strategy mcmc relocates and adds Gaussians with gsplat, which needs a CUDA GPU; on the "
                         "CPU the reference rasterizer trains a fixed set of Gaussians (the default strategy, no "
                         "densification): use --device cuda, or leave out --strategy mcmc")  # fmt: skip
    # The model folder is checked writable and locked before anything is read or replaced.
    with output_folder(out, count=lambda: len(list(out.glob("ckpt_*.pt"))), unit="checkpoints"):
        fmt = detect_format(data, "train")
        traits = format_traits(fmt)
        background = tuple(background) if background else traits.background
        if all_views and traits.holdout_every:
            train_frames, test_frames = load_dataset(data, None, fmt), []
        else:
            train_frames = load_dataset(data, "train", fmt)
            try:
                test_frames = load_dataset(data, "test", fmt)
            except DatasetError:
                test_frames = []
        init = None
        if traits.has_sfm_points:
            try:
                xyz, rgb = load_colmap_points(find_sparse_model(data))
                init = (xyz, rgb / 255.0)
            except DatasetError:
                init = None  # LLFF without its sparse model: random points
        common = dict(iterations=iterations, background=background, eval_steps=tuple(eval_steps),
                      save_steps=(*save_steps, iterations), seed=seed)  # fmt: skip
        if init_points is not None:
            common["init_points"] = init_points
        if scaffold:
            cfg = ScaffoldTrainConfig(**common, voxel_size=voxel_size, update_init_factor=update_init_factor,
                                      appearance_dim=appearance_dim, update_until=update_until, colour=colour,
                                      ratio=ratio, lod=lod)  # fmt: skip
        else:
            cfg = TrainConfig(**common, strategy=strategy, sh_degree=sh_degree, refine_stop=refine_stop,
                              cap_max=cap_max)  # fmt: skip
        say = print if verbose else lambda *a, **k: None
        if found := existing_model(out):
            can_resume = resume and any(n.startswith("ckpt_") for n in found)
            if not (overwrite or can_resume):
                hint = "; --resume continues it" if any(n.startswith("ckpt_") for n in found) else ""
                raise ModelExistsError(f"{out} already holds a model ({', '.join(found[:3])}); pass --overwrite "
                                       f"(overwrite=True) to replace it{hint}")  # fmt: skip
            if overwrite:
                say(f"replacing the model in {out} (--overwrite)")
                _remove_model(out)
        train_views = load_views(train_frames, max_size, background, progress=verbose)
        test_views = load_views(test_frames, max_size, background, progress=verbose)
        mask_list = load_masks(masks, train_views) if masks else None
        if torch.device(device).type == "cpu":
            say("training on the CPU: reference rasterizer" + ("" if scaffold else ", no densification")
                + " (slow; use a GPU for real scenes)")  # fmt: skip
        # What the original's train.py records besides the model options: its -s (absolute), -m, and --eval.
        cfg_args = {"source_path": str(data.resolve()), "model_path": str(out), "eval": bool(test_views)}

        def trainer_from(points: tuple[np.ndarray, np.ndarray] | None) -> Trainer | ScaffoldTrainer:
            if scaffold:
                return ScaffoldTrainer(cfg, train_views, out, points, device, mask_list, cfg_args=cfg_args)
            return Trainer(cfg, train_views, out, points, device)

        if warmup:
            say(f"warm-up pass: {plural(iterations, 'step')}, then training again into {out} (the original's --warmup)")
            warm = trainer_from(init)
            warm.train(test_views, progress=verbose)
            if init is None:  # the original's Blender reader restarts from the warm-up model's anchors
                anchors = warm.model.anchors.detach().cpu().numpy()
                init, restart = (anchors, np.zeros_like(anchors)), f"the warm-up's {len(anchors)} anchors"
            else:  # its COLMAP reader ignores the warm-up model
                restart = "the SfM points again, as the original does"
            del warm
            say(f"second pass from {restart}")
        trainer = trainer_from(init)
        if resume and trainer.resume():
            say(f"resuming {out} at step {trainer.step}")
        size = ", ".join(f"{v} {k.removeprefix('num_')}" for k, v in trainer.model_size().items())
        say(f"{fmt} scene: {len(train_views)} training and {plural(len(test_views), 'test view')}, {size} at the "
            f"start ({'SfM points' if init is not None else 'random'})")  # fmt: skip
        evals = trainer.train(test_views, progress=verbose)
        ply = out / "point_cloud" / f"iteration_{trainer.step}" / "point_cloud.ply"
        return TrainResult(out, ply, trainer.step, evals, fmt)


# ----------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, sd = TrainConfig(), ScaffoldTrainConfig()
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (COLMAP, Blender, instant-ngp, ...)")
    parser.add_argument("--out", type=Path, required=True, help="model folder (Inria layout) with logs and checkpoints")
    parser.add_argument("--model", default="3dgs", choices=MODELS, help="scene model to train")
    parser.add_argument("--iterations", type=positive_int, default=d.iterations)
    parser.add_argument("--max-size", type=positive_int, default=MAX_SIZE, help="downscale images to this long side")
    parser.add_argument("--background", type=fraction, nargs=3, metavar=("R", "G", "B"),
                        help="RGB in [0, 1]; default: white for Blender scenes, else black")  # fmt: skip
    parser.add_argument("--init-points", type=positive_int, help=f"random init without SfM points (default: "
                        f"{d.init_points} for 3dgs, {sd.init_points} for scaffold)")  # fmt: skip
    parser.add_argument("--eval-steps", type=positive_int, nargs="*", default=list(d.eval_steps))
    parser.add_argument("--save-steps", type=positive_int, nargs="*", default=list(d.save_steps),
                        help="and the last step")  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in --out (default: refuse)")
    parser.add_argument("--all-views", action="store_true", help="train on every view of a COLMAP / instant-ngp / "
                        "LLFF scene (no 1-in-8 test hold-out), as the original without --eval")  # fmt: skip
    parser.add_argument("--seed", type=nonnegative_int, default=d.seed)
    parser.add_argument("--device", type=device_arg, default=default_device(), help="cpu, cuda or cuda:N")
    g = parser.add_argument_group("3dgs")
    g.add_argument("--strategy", default=d.strategy, choices=STRATEGIES,
                   help="growth strategy on CUDA (the CPU trains a fixed set; mcmc needs CUDA)")  # fmt: skip
    g.add_argument("--sh-degree", type=int_in(0, 3), default=d.sh_degree)
    g.add_argument("--refine-stop", type=nonnegative_int, default=d.refine_stop, help="last step that grows the model")
    g.add_argument("--cap-max", type=positive_int, default=d.cap_max, help="mcmc: the most Gaussians")
    g = parser.add_argument_group("scaffold (the original's options)")
    g.add_argument("--voxel-size", type=finite_float, default=sd.voxel_size,
                   help="anchor grid (<= 0: from the points)")  # fmt: skip
    g.add_argument("--update-init-factor", type=positive_int, default=sd.update_init_factor)
    g.add_argument("--appearance-dim", type=nonnegative_int, default=sd.appearance_dim)
    g.add_argument("--update-until", type=nonnegative_int, default=sd.update_until,
                   help="last step that grows anchors")  # fmt: skip
    colour = g.add_mutually_exclusive_group()
    colour.add_argument("--act", action="store_true", help="train GS-CPR's ACT with the model (saved as <out>/act.pt)")
    colour.add_argument("--exposure", action="store_true", help="per-image exposure compensation (baseline)")
    g.add_argument("--masks", type=Path, help="folder of masks named like the images (white: pixels the loss sees)")
    g.add_argument("--ratio", type=positive_int, default=sd.ratio, help="anchors from every ratio-th initial point")
    g.add_argument("--lod", type=nonnegative_int, default=sd.lod, help="recorded in cfg_args (the original's "
                   "splits use it only with --eval, which GS-CPR never passes)")  # fmt: skip
    g.add_argument("--warmup", action="store_true", help="the original's two passes (the second one is kept)")


def run(args: argparse.Namespace) -> int:
    if args.model != "scaffold" and (args.act or args.exposure or args.masks or args.ratio != 1 or args.lod
                                     or args.warmup):  # fmt: skip
        print("gscpr train: error: --act, --exposure, --masks, --ratio, --lod and --warmup train with --model scaffold",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        result = train(
            args.data, args.out, model=args.model, iterations=args.iterations, max_size=args.max_size,
            background=args.background, init_points=args.init_points, eval_steps=args.eval_steps,
            save_steps=args.save_steps, resume=args.resume, seed=args.seed, device=args.device,
            strategy=args.strategy, sh_degree=args.sh_degree, refine_stop=args.refine_stop, cap_max=args.cap_max,
            voxel_size=args.voxel_size, update_init_factor=args.update_init_factor,
            appearance_dim=args.appearance_dim, update_until=args.update_until,
            colour="act" if args.act else "exposure" if args.exposure else "none", masks=args.masks,
            ratio=args.ratio, lod=args.lod, warmup=args.warmup, all_views=args.all_views, overwrite=args.overwrite,
        )  # fmt: skip
    except (DatasetError, ValueError, ModelExistsError) as e:
        print(f"gscpr train: error: {e}", file=sys.stderr)
        return 2
    for e in result.evals:
        size = ", ".join(f"{v} {k.removeprefix('num_')}" for k, v in e.items() if k.startswith("num_"))
        print(f"step {e['step']}: test PSNR {e['psnr']:.2f} dB, SSIM {e['ssim']:.4f}, {size}")
    print(f"model: {result.ply.parent}")
    if args.act and (act := result.model_dir / ACT_FILE).is_file():
        print(f"ACT: {act}")
    return 0
