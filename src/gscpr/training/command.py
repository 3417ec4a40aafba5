"""``gscpr train``: train a 3DGS or Scaffold-GS scene model on a posed dataset (resumable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..data import detect_format, load_colmap_points, load_dataset
from ..data.colmap import find_sparse_model
from ..data.frame import DatasetError
from .gaussians import STRATEGIES, TrainConfig, Trainer
from .loop import MAX_SIZE, load_masks, load_views
from .scaffold import ScaffoldTrainConfig, ScaffoldTrainer

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, sd = TrainConfig(), ScaffoldTrainConfig()
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (COLMAP, Blender, instant-ngp, ...)")
    parser.add_argument("--out", type=Path, required=True, help="model folder (Inria layout) with logs and checkpoints")
    parser.add_argument("--model", default="3dgs", choices=["3dgs", "scaffold"], help="scene model to train")
    parser.add_argument("--iterations", type=int, default=d.iterations)
    parser.add_argument("--max-size", type=int, default=MAX_SIZE, help="downscale images to this long side")
    parser.add_argument("--background", type=float, nargs=3, help="default: white for Blender scenes, else black")
    parser.add_argument("--init-points", type=int, help=f"random init without SfM points (default: {d.init_points} "
                        f"for 3dgs, {sd.init_points} for scaffold)")  # fmt: skip
    parser.add_argument("--eval-steps", type=int, nargs="*", default=list(d.eval_steps))
    parser.add_argument("--save-steps", type=int, nargs="*", default=list(d.save_steps), help="and the last step")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    g = parser.add_argument_group("3dgs")
    g.add_argument("--strategy", default=d.strategy, choices=STRATEGIES, help="growth strategy (CUDA)")
    g.add_argument("--sh-degree", type=int, default=d.sh_degree)
    g.add_argument("--refine-stop", type=int, default=d.refine_stop, help="last step that grows the model")
    g.add_argument("--cap-max", type=int, default=d.cap_max, help="mcmc: the most Gaussians")
    g = parser.add_argument_group("scaffold (the original's options)")
    g.add_argument("--voxel-size", type=float, default=sd.voxel_size, help="anchor grid (<= 0: from the points)")
    g.add_argument("--update-init-factor", type=int, default=sd.update_init_factor)
    g.add_argument("--appearance-dim", type=int, default=sd.appearance_dim)
    g.add_argument("--update-until", type=int, default=sd.update_until, help="last step that grows anchors")
    colour = g.add_mutually_exclusive_group()
    colour.add_argument("--act", action="store_true", help="train GS-CPR's ACT exposure transform with the model")
    colour.add_argument("--exposure", action="store_true", help="per-image exposure compensation (baseline)")
    g.add_argument("--masks", type=Path, help="folder of masks named like the images (white: pixels the loss sees)")


def run(args: argparse.Namespace) -> int:
    scaffold = args.model == "scaffold"
    if not scaffold and (args.act or args.exposure or args.masks):
        print("error: --act, --exposure and --masks train with --model scaffold", file=sys.stderr)
        return 2
    try:
        fmt = detect_format(args.data, "train")
        background = tuple(args.background) if args.background else (1.0, 1.0, 1.0) if fmt == "blender" else (0.0,) * 3
        train_frames = load_dataset(args.data, "train", fmt)
        try:
            test_frames = load_dataset(args.data, "test", fmt)
        except DatasetError:
            test_frames = []
        init = None
        if fmt in ("colmap", "llff"):
            try:
                xyz, rgb = load_colmap_points(find_sparse_model(args.data))
                init = (xyz, rgb / 255.0)
            except DatasetError:
                init = None  # LLFF without its sparse model: random points
        common = dict(iterations=args.iterations, background=background, eval_steps=tuple(args.eval_steps),
                      save_steps=(*args.save_steps, args.iterations), seed=args.seed)  # fmt: skip
        if args.init_points is not None:
            common["init_points"] = args.init_points
        if scaffold:
            cfg = ScaffoldTrainConfig(
                **common, voxel_size=args.voxel_size, update_init_factor=args.update_init_factor,
                appearance_dim=args.appearance_dim, update_until=args.update_until,
                colour="act" if args.act else "exposure" if args.exposure else "none",
            )  # fmt: skip
        else:
            cfg = TrainConfig(**common, strategy=args.strategy, sh_degree=args.sh_degree, refine_stop=args.refine_stop,
                              cap_max=args.cap_max)  # fmt: skip
        train_views = load_views(train_frames, args.max_size, background)
        test_views = load_views(test_frames, args.max_size, background)
        masks = load_masks(args.masks, train_views) if args.masks else None
    except (DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.device == "cpu":
        print("training on the CPU: reference rasterizer" + ("" if scaffold else ", no densification")
              + " (slow; use a GPU for real scenes)")  # fmt: skip
    if scaffold:
        trainer = ScaffoldTrainer(cfg, train_views, args.out, init, args.device, masks)
    else:
        trainer = Trainer(cfg, train_views, args.out, init, args.device)
    if args.resume and trainer.resume():
        print(f"resuming {args.out} at step {trainer.step}")
    size = ", ".join(f"{v} {k.removeprefix('num_')}" for k, v in trainer.model_size().items())
    print(f"{fmt} scene: {len(train_views)} training and {len(test_views)} test views, {size} at the start"
          f" ({'SfM points' if init is not None else 'random'})")  # fmt: skip
    for e in trainer.train(test_views):
        size = ", ".join(f"{e[k]} {k.removeprefix('num_')}" for k in trainer.model_size())
        print(f"step {e['step']}: test PSNR {e['psnr']:.2f} dB, SSIM {e['ssim']:.4f}, {size}")
    print(f"model: {args.out / 'point_cloud' / f'iteration_{trainer.step}'}")
    return 0
