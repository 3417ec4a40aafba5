"""Refinement latency per stage (render, match, lift, PnP) and throughput, per matcher and resolution.

    python benchmarks/refine.py --out benchmarks/results/refine_<gpu>_<date>.json

The scene is generated (a room tiled with flat textured Gaussians, ``--splats-per-side`` per wall side), the
queries are renders at random poses inside it, the coarse poses are 3 deg / 5 cm away. Each query is refined
once (one iteration) after warm-up; median stage times over the queries, queries/s over the whole run,
peak GPU memory, and the accuracy reached. Batch 1 is ``refine_query`` query after query; ``--batch B`` adds
rows with ``refine_batch`` (one render call and one feature-extraction call per B queries). Prints JSON and a
markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np
import torch

from gscpr.camera import Camera
from gscpr.geometry import perturb_pose, pose_errors
from gscpr.match import load_matcher
from gscpr.refine import STAGES, RefineConfig, refine_batch, refine_query
from gscpr.solvers import get_solver
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room

RESOLUTIONS = {"640x480": (640, 480, 525.0), "1920x1080": (1920, 1080, 1670.0)}


def run(
    matcher_name: str,
    res: str,
    scene,
    n_queries: int,
    device: str,
    solver: str,
    batch: int = 1,
    min_iters: int | None = None,
) -> dict:
    w, h, f = RESOLUTIONS[res]
    cam = Camera.centered(w, h, f)
    rng = np.random.default_rng(0)
    gts = [pose_inside(rng) for _ in range(n_queries + 2)]
    with torch.inference_mode():
        images = [render(scene, cam, p).rgb[0].cpu().numpy() for p in gts]
    coarse = [perturb_pose(p, 3.0, 0.05, frame="world", rng=i) for i, p in enumerate(gts)]
    matcher = load_matcher(matcher_name, device)
    cfg = RefineConfig(solver=solver, ransac_px=1.0 if w < 1000 else 2.5, ransac_min_iterations=min_iters)
    for i in range(2):  # warm-up: cuDNN autotuning, allocator, kernels
        refine_query(scene, images[i], cam, coarse[i], matcher, cfg)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    if batch > 1:  # warm-up of the batched shapes
        refine_batch(scene, images[:batch], [cam] * batch, coarse[:batch], matcher, cfg)
    stages, errors, statuses = [], [], []
    t0 = time.perf_counter()
    for i in range(2, n_queries + 2, batch):
        j = min(i + batch, n_queries + 2)
        if batch == 1:
            results = [refine_query(scene, images[i], cam, coarse[i], matcher, cfg)]
        else:
            results = refine_batch(scene, images[i:j], [cam] * (j - i), coarse[i:j], matcher, cfg)
        for k, r in enumerate(results):
            stages.append([r.timings[s] for s in STAGES])
            errors.append(pose_errors(r.pose, gts[i + k]))
            statuses.append(r.status)
    if device == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    med = np.median(np.array(stages), axis=0) * 1000
    err = np.median(np.array(errors), axis=0)
    return {
        "matcher": matcher_name,
        "resolution": res,
        "solver": solver,
        "batch": batch,
        "ransac_min_iterations": get_solver(cfg.solver).resolved(cfg.pose_solver_options()).min_iterations,
        "queries": n_queries,
        **{f"ms_{s}": float(v) for s, v in zip(STAGES, med, strict=True)},
        "ms_total_median": float(np.median(np.array(stages).sum(axis=1)) * 1000),
        "queries_per_s": n_queries / total,
        "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        "median_rot_deg": float(err[0]),
        "median_trans_m": float(err[1]),
        "refined": statuses.count("refined"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matchers", nargs="+", default=["xfeat", "xfeat-lighterglue", "sift"])
    p.add_argument("--resolutions", nargs="+", default=list(RESOLUTIONS))
    p.add_argument("--queries", type=int, default=32)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (1: query after query)")
    p.add_argument("--solver", default="poselib")
    p.add_argument(
        "--min-iterations",
        type=int,
        nargs="+",
        default=[None],
        help="RANSAC minimum iterations (default: the solver's; several: one row each, to compare speed and accuracy)",
    )
    p.add_argument("--splats-per-side", type=int, default=200, help="6 x N^2 Gaussians (200: 240k)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    scene = textured_room(n_side=args.splats_per_side).to(args.device)
    rows, skipped = [], {}
    for res in args.resolutions:
        for m in args.matchers:
            if m in skipped:
                continue
            try:  # a matcher whose weights were not carried is skipped, not a crash that loses the other rows
                load_matcher(m, args.device)
            except (ImportError, OSError) as e:
                skipped[m] = f"{type(e).__name__}: {e}"
                print(f"skipping {m}: {skipped[m]}", flush=True)
                continue
            for b in args.batch:
                if b > 1 and m != "xfeat":
                    continue  # only XFeat extracts features for a batch in one call; the others gain nothing
                for it in args.min_iterations:
                    row = run(m, res, scene, args.queries, args.device, args.solver, b, it)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    result = {
        "benchmark": "refine",
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "gaussians": len(scene),
        "rows": rows,
        "skipped": skipped,
    }
    print("\n| matcher | resolution | batch | RANSAC min it. | render | match | sub-pixel | lift | PnP | total ms "
          "| queries/s | peak MB | rot deg | trans m |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["matcher"], r["resolution"], r["batch"], r["ransac_min_iterations"],
                 *(f"{r[f'ms_{s}']:.1f}" for s in STAGES),
                 f"{r['ms_total_median']:.1f}", f"{r['queries_per_s']:.1f}", f"{r['peak_mem_mb'] or 0:.0f}",
                 f"{r['median_rot_deg']:.4f}", f"{r['median_trans_m']:.5f}"]  # fmt: skip
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
