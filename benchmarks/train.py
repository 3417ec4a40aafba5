"""Training speed and quality on real scenes: time to each eval step, test PSNR / SSIM, model size, memory.

    python benchmarks/train.py --scene lego=.gpu/lego --scene fox=.gpu/fox --out $OUT/train.json   (CUDA)
    python benchmarks/train.py --model scaffold [--colour act] --scene lego=.gpu/lego ...

Each scene trains from scratch with ``gscpr.training.gaussians`` (3DGS: gsplat, DefaultStrategy unless
``--strategy``) or ``gscpr.training.scaffold`` (Scaffold-GS with GS-CPR's settings),
random initialisation (NeRF-synthetic and instant-ngp captures have no SfM points), white background for
Blender scenes. Test views: the Blender test split, or every 8th image of an instant-ngp capture, held out from
training. The seconds exclude evaluation. Prints JSON lines and a markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
from pathlib import Path

import torch

from gscpr.data import detect_format, format_traits, load_dataset
from gscpr.training.gaussians import TrainConfig, Trainer
from gscpr.training.loop import load_views
from gscpr.training.scaffold import ScaffoldTrainConfig, ScaffoldTrainer


def run(name: str, path: Path, args) -> list[dict]:
    fmt = detect_format(path, "train")
    background = format_traits(fmt).background
    train = load_views(load_dataset(path, "train", fmt), args.max_size, background, progress=False)
    test = load_views(load_dataset(path, "test", fmt), args.max_size, background, progress=False)
    common = dict(iterations=max(args.eval_steps), background=background, eval_steps=tuple(args.eval_steps),
                  save_steps=(), seed=0)  # fmt: skip
    # eval.csv and train_log.csv go next to the results as they are written: a run cut short keeps them.
    log_dir = args.out.parent / f"{name}_{args.model}_log" if args.out else Path(tempfile.mkdtemp())
    if args.model == "scaffold":
        cfg = ScaffoldTrainConfig(**common, colour=args.colour)
        trainer = ScaffoldTrainer(cfg, train, log_dir, device="cuda")
    else:
        trainer = Trainer(TrainConfig(**common, strategy=args.strategy), train, log_dir, device="cuda")
    torch.cuda.reset_peak_memory_stats()  # training's peak, not the initial nearest-neighbour search's
    evals = trainer.train(test, progress=False)
    w, h = train[0].camera.size
    rows = []
    for e in evals:
        size = e.get("num_gaussians", e.get("num_anchors"))
        model = f"scaffold{'+' + args.colour if args.colour != 'none' else ''}" if args.model == "scaffold" else "3dgs"
        rows.append({"scene": name, "format": fmt, "model": model,
                     "strategy": args.strategy if args.model == "3dgs" else None, "resolution": f"{w}x{h}",
                     "train_views": len(train), "test_views": len(test), "step": e["step"],
                     "seconds": round(e["seconds"], 1), "test_psnr": round(e["psnr"], 2),
                     "test_ssim": round(e["ssim"], 4), "gaussians" if args.model == "3dgs" else "anchors": size,
                     "peak_mem_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scene", action="append", required=True, help="NAME=PATH (repeat)")
    p.add_argument("--eval-steps", type=int, nargs="+", default=[7000, 15000, 30000])
    p.add_argument("--model", default="3dgs", choices=["3dgs", "scaffold"])
    p.add_argument("--colour", default="none", choices=["none", "act", "exposure"], help="scaffold's colour model")
    p.add_argument("--strategy", default="default")
    p.add_argument("--max-size", type=int, default=1600)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    rows = []
    for spec in args.scene:
        name, path = spec.split("=", 1)
        rows += run(name, Path(path), args)
        if args.out:  # after each scene: a later one running out of time loses nothing
            result = {"benchmark": "train", "device": torch.cuda.get_device_name(),
                      "date": datetime.date.today().isoformat(), "torch": torch.__version__, "rows": rows}  # fmt: skip
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2))
    print("\n| scene | model | resolution | train / test views | step | seconds | test PSNR | SSIM | Gaussians "
          "(anchors) | peak GB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["scene"], r["model"], r["resolution"], f"{r['train_views']} / {r['test_views']}", r["step"],
                 r["seconds"], r["test_psnr"], r["test_ssim"], r.get("gaussians", r.get("anchors")),
                 r["peak_mem_gb"]]  # fmt: skip
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
