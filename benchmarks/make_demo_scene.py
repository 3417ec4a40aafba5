"""Train the embedded demo scene: a small 3DGS model of the CC-0 NeRF-synthetic ``mic`` at 400x400.

    python benchmarks/prepare_gpu_data.py mic
    python benchmarks/make_demo_scene.py --data .gpu/mic --out $OUT      (CUDA; a few minutes)

Trains on the 100 training views (white background, SH degree 0: view-independent colours keep the file small
and the CPU renders of `gscpr demo` fast) with gsplat's MCMC strategy capped at ``--cap-max`` Gaussians (a
fixed budget trains far better than pruning a large model afterwards: 153k -> 45k Gaussians by opacity x area
lost 8 dB), and reports the test PSNR. Writes ``mic.ply`` and ``mic_train.json``; the PLY is committed as
``src/gscpr/assets/mic/mic.ply``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from gscpr.data import load_blender
from gscpr.splat import render, save_ply
from gscpr.training.gaussians import TrainConfig, Trainer, prune
from gscpr.training.loop import load_views, psnr

WHITE = (1.0, 1.0, 1.0)


def test_psnr(g, views) -> float:
    values = []
    with torch.inference_mode():
        for v in views:
            gt = torch.as_tensor(v.image, device=g.device).float() / 255
            values.append(psnr(render(g, v.camera, v.pose, background=WHITE).rgb[0], gt))
    return float(np.mean(values))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--iterations", type=int, default=15_000)
    p.add_argument("--strategy", default="mcmc")
    p.add_argument("--cap-max", type=int, default=40_000)
    p.add_argument("--max-gaussians", type=int, nargs="*", default=[], help="also write models pruned to these")
    args = p.parse_args()
    train = load_views(load_blender(args.data, "train"), background=WHITE, progress=False)
    test = load_views(load_blender(args.data, "test"), background=WHITE, progress=False)
    cfg = TrainConfig(iterations=args.iterations, strategy=args.strategy, cap_max=args.cap_max, sh_degree=0,
                      init_points=args.cap_max // 2, init_opacity=0.5,
                      background=WHITE, refine_stop=int(args.iterations * 0.8), eval_steps=(args.iterations,),
                      save_steps=())  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, train, tmp, device="cuda")
        final = trainer.train(test, progress=False)[-1]  # the evaluation at the last step
    g = trainer.gaussians()
    log = {"iterations": args.iterations, "strategy": args.strategy, "cap_max": args.cap_max,
           "seconds": trainer.seconds, "gaussians": len(g),
           "test_psnr": final["psnr"], "device": torch.cuda.get_device_name(), "pruned": {}}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    save_ply(args.out / "mic.ply", g.to("cpu"))
    for n in args.max_gaussians:
        small = prune(g, n)
        log["pruned"][n] = {"gaussians": len(small), "test_psnr": test_psnr(small, test)}
        save_ply(args.out / f"mic_{n}.ply", small.to("cpu"))
    (args.out / "mic_train.json").write_text(json.dumps(log, indent=1))
    print(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
