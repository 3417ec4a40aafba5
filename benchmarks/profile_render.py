"""Where a batched render's time goes: ``render_many`` (the refinement's render) one view at a time against a batch,
split into the rasterizer, compositing and the copy of depth and alpha to the host, then torch.profiler's top CUDA
kernels and CUDA runtime calls of each.

    python benchmarks/profile_render.py --resolution 1920x1080 --batch 8 --out profile_render.txt

The scene is ``benchmarks/refine.py``'s generated room (cameras inside it) or ``--model`` (any scene file).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from gscpr.argtypes import positive_float, positive_int
from gscpr.camera import Camera
from gscpr.geometry import perturb_pose
from gscpr.refine import RefineConfig
from gscpr.refine.rendering import render_many, to_host
from gscpr.splat.render import render
from gscpr.synthetic import pose_inside, textured_room


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def resolution_arg(text: str) -> tuple[int, int]:
    """``--resolution WxH``: width and height in pixels, whole numbers >= 1."""
    w, sep, h = text.partition("x")
    try:
        return positive_int(w), positive_int(h)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 1920x1080") from None


def timed(fn, repeats: int) -> float:
    """Median ms of ``fn()`` (synchronised)."""
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def pageable(scene, cam, poses, cfg):
    """The copies render_many made before ``to_host``."""
    out = render(scene, [cam] * len(poses), poses, **cfg.render_options())
    return out.depth.float().cpu().numpy(), out.alpha.float().cpu().numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resolution", type=resolution_arg, default="1920x1080")
    p.add_argument("--focal", type=positive_float, default=1670.0)
    p.add_argument("--batch", type=positive_int, default=8)
    p.add_argument("--repeats", type=positive_int, default=10)
    p.add_argument("--model", type=Path, help="a scene file (default: the generated room)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    w, h = args.resolution
    cam = Camera.centered(w, h, args.focal)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU: a smoke test of the script
    if args.model:
        from gscpr.splat.model import load_scene_model

        scene = load_scene_model(args.model, device)
    else:
        scene = textured_room(n_side=200 if device == "cuda" else 20).to(device)
    rng = np.random.default_rng(0)
    poses = np.stack([perturb_pose(pose_inside(rng), 3.0, 0.05, frame="world", rng=i) for i in range(args.batch)])
    cfg = RefineConfig()
    gpu = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    lines = [f"# render_many at {w}x{h}, batch {args.batch}, {gpu}"]
    for label, fn in {
        "render_many, one call per view": lambda: [render_many(scene, [cam], poses[i : i + 1], cfg) for i in
                                                   range(args.batch)],
        "render_many, one batched call": lambda: render_many(scene, [cam] * args.batch, poses, cfg),
        "render() only, one call per view": lambda: [render(scene, cam, poses[i : i + 1], **cfg.render_options())
                                                     for i in range(args.batch)],
        "render() only, one batched call": lambda: render(scene, [cam] * args.batch, poses, **cfg.render_options()),
        "render() + pageable .cpu() of depth and alpha, batched": lambda: pageable(scene, cam, poses, cfg),
        "render() + to_host (page-locked) of depth and alpha, batched": lambda: to_host(
            *(lambda o: (o.depth, o.alpha))(render(scene, [cam] * args.batch, poses, **cfg.render_options()))),
    }.items():  # fmt: skip
        fn()  # warm-up
        ms = timed(fn, args.repeats)
        lines.append(f"{label}: {ms:.2f} ms, {ms / args.batch:.2f} ms per view")
        print(lines[-1], flush=True)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
            sync()
        lines.append(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=60))
        lines.append(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10, max_name_column_width=60))
    text = "\n".join(lines)
    if args.out:
        args.out.write_text(text)
    print(text[:6000])


if __name__ == "__main__":
    main()
