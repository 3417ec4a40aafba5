"""Render speed: ms per view and frames/s at the paper's resolutions, batch 1 and batched, peak GPU memory.

    python benchmarks/render.py --out benchmarks/results/render_<gpu>_<date>.json

Scenes are generated (random 3DGS of realistic size; a random Scaffold-GS with as many decoded Gaussians),
so the numbers measure the renderer, not a particular capture. Prints JSON and a markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gscpr.camera import Camera
from gscpr.geometry import make_pose, qvec_to_rotmat
from gscpr.splat import Gaussians, render

RESOLUTIONS = {"640x480": (640, 480, 525.0), "1296x968": (1296, 968, 1165.0), "1920x1080": (1920, 1080, 1670.0)}


def random_gaussians(n: int, seed: int = 0, device: str = "cuda") -> Gaussians:
    g = torch.Generator().manual_seed(seed)
    # A room-sized cloud: positions within 3 m, scales of 2-10 cm, mostly opaque.
    return Gaussians(
        means=(torch.rand(n, 3, generator=g) - 0.5) * 6.0,
        quats=torch.randn(n, 4, generator=g),
        log_scales=torch.rand(n, 3, generator=g) * 1.6 - 3.9,
        opacity_logits=torch.randn(n, generator=g) + 1.0,
        sh=torch.randn(n, 16, 3, generator=g) * 0.2,
    ).to(device)


def views_inside(k: int, seed: int = 0) -> np.ndarray:
    """Cameras inside the cloud looking in random directions, as in an indoor scene."""
    rng = np.random.default_rng(seed)
    return np.stack([make_pose(qvec_to_rotmat(rng.normal(size=4)), rng.uniform(-0.5, 0.5, size=3)) for _ in range(k)])


@torch.inference_mode()
def time_render(model, cam: Camera, poses: np.ndarray, backend: str, repeats: int) -> dict:
    for _ in range(2):  # warm-up: kernel build/caches, allocator
        render(model, cam, poses, backend=backend)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        render(model, cam, poses, backend=backend)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    ms = float(np.median(times))
    return {
        "ms_per_call": ms,
        "ms_per_view": ms / len(poses),
        "views_per_s": 1000.0 * len(poses) / ms,
        "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300_000, 1_000_000], help="numbers of Gaussians")
    parser.add_argument("--batch", type=int, default=16, help="views per batched call")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--backend", default="gsplat")
    parser.add_argument("--scaffold", action="store_true", help="also time a Scaffold-GS model (decode + render)")
    parser.add_argument("--out", type=Path, help="write the JSON here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/render.py needs a CUDA GPU")

    rows = []
    models = [(f"3dgs-{n // 1000}k", random_gaussians(n)) for n in args.sizes]
    if args.scaffold:
        from gscpr.splat.scaffold import random_scaffold

        for n in args.sizes:
            models.append((f"scaffold-{n // 1000}k", random_scaffold(n // 10, n_offsets=10, device="cuda")))
    for name, model in models:
        for res, (w, h, f) in RESOLUTIONS.items():
            cam = Camera.centered(w, h, f)
            for batch in (1, args.batch):
                t0 = time.perf_counter()
                r = time_render(model, cam, views_inside(batch), args.backend, args.repeats)
                r.update(model=name, resolution=res, batch=batch, wall_s=time.perf_counter() - t0)
                rows.append(r)
                print(json.dumps(r), flush=True)
    result = {
        "benchmark": "render",
        "device": torch.cuda.get_device_name(),
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "backend": args.backend,
        "python": platform.python_version(),
        "rows": rows,
    }
    print("\n| model | resolution | batch | ms/view | views/s | peak MB |\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['resolution']} | {r['batch']} | {r['ms_per_view']:.2f} | "
            f"{r['views_per_s']:.0f} | {r['peak_mem_mb']:.0f} |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
