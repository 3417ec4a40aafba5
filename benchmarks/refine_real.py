"""Refinement speed and accuracy on real captures: per-stage medians, inlier ratios, RANSAC iterations, accuracy.

    python benchmarks/refine_real.py --scene fox=.gpu/fox --scene fern=.gpu/fern \\
        --solvers poselib gpu-ransac --batch 1 8 --out benchmarks/results/refine_real_<gpu>_<date>.json

Each scene is a dataset folder (any format ``gscpr.data`` reads) with a test split: a 3DGS model is trained on its
train split (or loaded from ``--work``, :func:`gscpr.bench.run.train_or_load`), and its held-out views, at native
resolution or resized (``--max-side``), get coarse poses under the bench protocols (``gscpr bench``'s
perturbations), ``--draws`` draws per view. Every (scene, size, protocol, matcher, solver, batch) is a row: median
ms per stage (render, match, sub-pixel, lift, PnP, verify), the median whole query, queries/s over the row's run,
the median inlier ratio and RANSAC iterations, the success rate (rotation < 5° and translation < 5 % of the scene
distance, ``gscpr.bench``'s criterion), the share verification accepted and the success over those, and the median
errors. With ``--no-verify`` nothing is verified: ``accepted`` and ``success_accepted`` are ``null`` ("–" in the
table, whose header line says so), not the refined share. Unlike ``benchmarks/refine.py`` (a generated room
whose renders are the queries: every match right), these are the speed figures of real photographs.
Prints JSON lines, then a markdown table.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import pstats
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gscpr.argtypes import device_arg, nonnegative_int, positive_int
from gscpr.bench import PROTOCOLS, perturb_frames, scene_distance
from gscpr.bench.run import train_or_load
from gscpr.bench.scene_scale import SUCCESS
from gscpr.data import DatasetError, detect_format, format_traits, load_dataset, load_rgb
from gscpr.evaluate import within
from gscpr.geometry import pose_errors
from gscpr.match import MATCHERS, load_matcher
from gscpr.refine import STAGES, RefineConfig, refine_batch, refine_query
from gscpr.solvers import solver_names


def load_scene(folder: Path, work: Path, steps: int, device: str, views: int):
    """``(model, frames, distance, background)``: up to ``views`` test frames spread over the split."""
    fmt = detect_format(folder, "test")
    frames = [f for f in load_dataset(folder, "test", fmt) if f.pose is not None]
    frames = frames[:: max(1, len(frames) // views)][:views]
    model, _ = train_or_load(folder, work, steps, device)
    background = format_traits(fmt).background
    gts = np.stack([f.pose for f in frames])
    cams = [f.camera.without_distortion() for f in frames]
    return model, frames, scene_distance(fmt, gts, model, cams, background), background


def sized(frames, background, max_side: int | None):
    """Images ``[H, W, 3]`` float in [0, 1] and cameras, resized (Pillow, area) so the longer side is
    ``max_side`` (None: native)."""
    images, cams = [], []
    for f in frames:
        img, cam = load_rgb(f.image_path, background), f.camera
        if max_side is not None and max(cam.size) != max_side:
            s = max_side / max(cam.size)
            w, h = round(cam.width * s), round(cam.height * s)
            pil = Image.fromarray((img * 255).round().astype(np.uint8)).resize((w, h), Image.Resampling.BOX)
            img, cam = np.asarray(pil, dtype=np.float32) / 255.0, cam.resized(w, h)
        images.append(img)
        cams.append(cam)
    return images, cams


def run_row(
    model,
    images,
    cams,
    coarse,
    gts,
    distance,
    matcher,
    cfg,
    batch: int,
    workers: int,
    device: str,
    profiler: cProfile.Profile | None = None,
) -> dict:
    """Refine every query (after a warm-up on the first two); the row's medians and rates. ``profiler`` (if given)
    runs over the timed queries only: not the warm-up, whose first gpu-ransac solve is mostly ``torch.compile``."""
    for i in range(min(2, len(images))):
        refine_query(model, images[i], cams[i], coarse[i], matcher, cfg)
    if batch > 1:
        refine_batch(model, images[:batch], cams[:batch], coarse[:batch], matcher, cfg)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    results = []
    if profiler is not None:
        profiler.enable()
    t0 = time.perf_counter()
    for i in range(0, len(images), batch):
        j = min(i + batch, len(images))
        if batch == 1:
            results.append(refine_query(model, images[i], cams[i], coarse[i], matcher, cfg))
        else:
            results += refine_batch(model, images[i:j], cams[i:j], coarse[i:j], matcher, cfg, pool)
    if device == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
    if pool is not None:
        pool.shutdown()
    stages = np.array([[r.timings.get(s, 0.0) for s in STAGES] for r in results]) * 1000
    err = np.array([pose_errors(r.pose, g) for r, g in zip(results, gts, strict=True)])
    ok = within(err[:, 0], err[:, 1], SUCCESS[0], SUCCESS[1] * distance)
    solved = [r for r in results if r.num_inliers > 0]
    iters = [r.ransac_iterations for r in solved if r.ransac_iterations is not None]
    accepted = np.array([r.ok for r in results]) if cfg.verify else None  # unverified: nothing was accepted
    return {
        "queries": len(results),
        **{f"ms_{s}": float(np.median(stages[:, k])) for k, s in enumerate(STAGES)},
        "ms_total_median": float(np.median(stages.sum(axis=1))),
        "queries_per_s": len(results) / total,
        "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        "inlier_ratio_median": float(np.median([r.inlier_ratio for r in solved])) if solved else None,
        "ransac_iterations_median": float(np.median(iters)) if iters else None,
        "success": float(ok.mean()),
        "success_accepted": float(ok[accepted].mean()) if accepted is not None and accepted.any() else None,
        "accepted": float(accepted.mean()) if accepted is not None else None,
        "median_rot_deg": float(np.median(err[:, 0])),
        "median_trans": float(np.median(err[:, 1])),
        "distance": distance,
    }


def markdown(rows: list[dict], verify: bool) -> str:
    """The rows as a markdown table; without verification, a header line saying why "accepted" is "–"."""

    def share(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.0f} %"

    head = ["scene", "size", "protocol", "matcher", "solver", "batch", *STAGES, "total ms", "q/s", "inlier ratio",
            "RANSAC it.", "success", "accepted", "success, accepted", "rot °", "trans"]  # fmt: skip
    lines = [] if verify else ["verification off (--no-verify): nothing accepted or rejected, those columns are –", ""]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        cells = [r["scene"], r["size"], r["protocol"], r["matcher"], r["solver"], r["batch"],
                 *(f"{r[f'ms_{s}']:.1f}" for s in STAGES), f"{r['ms_total_median']:.1f}", f"{r['queries_per_s']:.1f}",
                 "–" if r["inlier_ratio_median"] is None else f"{r['inlier_ratio_median']:.2f}",
                 "–" if r["ransac_iterations_median"] is None else f"{r['ransac_iterations_median']:.0f}",
                 share(r["success"]), share(r["accepted"]), share(r["success_accepted"]),
                 f"{r['median_rot_deg']:.3f}", f"{r['median_trans']:.4f}"]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def write_profile(profiler: cProfile.Profile, path: Path, top: int = 60) -> None:
    """The ``top`` functions of ``profiler`` into ``path``, two sections: by cumulative time, then by own time."""
    with path.open("w") as f:
        for key, title in (("cumulative", "cumulative time (with callees)"), ("tottime", "own time (tottime)")):
            f.write(f"# top {top} by {title}\n")
            pstats.Stats(profiler, stream=f).sort_stats(key).print_stats(top)


def scene_arg(text: str) -> tuple[str, Path]:
    """``--scene NAME=FOLDER``: the name and a folder holding a dataset :func:`detect_format` reads."""
    name, sep, folder = text.partition("=")
    if not (sep and name and folder):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=FOLDER, e.g. fox=../shared/data/fox")
    try:
        detect_format(folder)
    except DatasetError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return name, Path(folder)


def side_arg(text: str) -> str:
    """``--max-side``: ``native`` or a longer side in pixels (a whole number >= 1)."""
    return text if text == "native" else str(positive_int(text))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--scene", type=scene_arg, action="append", required=True, metavar="NAME=FOLDER", help="a dataset folder"
    )
    p.add_argument("--views", type=positive_int, default=16, help="test views per scene")
    p.add_argument("--draws", type=positive_int, default=4, help="coarse poses per view and protocol")
    p.add_argument("--protocols", nargs="+", default=["coarse-dfnet", "icomma-small", "gsfeatloc"],
                   choices=sorted(PROTOCOLS))  # fmt: skip
    p.add_argument(
        "--max-side", type=side_arg, nargs="+", default=["native"], help="query sizes: native, or the longer side (px)"
    )
    p.add_argument("--matchers", nargs="+", choices=list(MATCHERS), default=["xfeat"])
    p.add_argument("--solvers", nargs="+", choices=solver_names("absolute"), default=["poselib"])
    p.add_argument("--batch", type=positive_int, nargs="+", default=[1], help="batch sizes (1: query after query)")
    p.add_argument("--workers", type=positive_int, default=1, help="threads finishing a batch's queries")
    p.add_argument("--no-verify", action="store_true", help="time without verification")
    p.add_argument("--train-steps", type=nonnegative_int, default=7000)
    p.add_argument("--work", type=Path, default=Path("refine_real_work"))
    p.add_argument("--device", type=device_arg, default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--profile",
        type=Path,
        help="cProfile the first row's timed queries (not its warm-up); the top functions go here, "
        "by cumulative and by own time",
    )
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    rows = []
    for name, folder in args.scene:
        model, frames, distance, background = load_scene(folder, args.work / name, args.train_steps,
                                                         args.device, args.views)  # fmt: skip
        names = [f.name for f in frames]
        gts = np.stack([f.pose for f in frames])
        for size in args.max_side:
            images, cams = sized(frames, background, None if size == "native" else int(size))
            for proto in args.protocols:
                coarse = np.concatenate([perturb_frames(PROTOCOLS[proto], gts, names, distance, seed=d)[0]
                                         for d in range(args.draws)])  # fmt: skip
                reps = args.draws
                for m in args.matchers:
                    matcher = load_matcher(m, args.device)
                    for solver in args.solvers:
                        wide = max(cams[0].size) > 1000
                        cfg = RefineConfig(solver=solver, ransac_px=2.5 if wide else 1.0, background=background,
                                           verify=not args.no_verify)  # fmt: skip
                        for b in args.batch:
                            prof = cProfile.Profile() if args.profile and not rows else None
                            row = run_row(model, images * reps, cams * reps, coarse, np.concatenate([gts] * reps),
                                          distance, matcher, cfg, b, args.workers, args.device, prof)  # fmt: skip
                            if prof is not None:
                                write_profile(prof, args.profile)
                            row.update(scene=name, size=f"{cams[0].width}x{cams[0].height}", protocol=proto,
                                       matcher=m, solver=solver, batch=b, workers=args.workers)  # fmt: skip
                            rows.append(row)
                            print(json.dumps(row), flush=True)
    result = {
        "benchmark": "refine_real",
        "device": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu",
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "train_steps": args.train_steps,
        "verify": not args.no_verify,
        "rows": rows,
    }
    print("\n" + markdown(rows, verify=not args.no_verify))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
