"""Throughput of ``gscpr refine`` over many queries: 1 vs N processes (torchrun), 1 vs W worker threads.

    python benchmarks/scale.py --data .gpu/lego --views 2000 --procs 1 2 --workers 1 4 --out $OUT/scale.json
    python benchmarks/scale.py --views 24 --size 160x120 --procs 1 2 --device cpu       # generated room, CPU

Makes a synthetic query set: ``--views`` renders of a scene model at poses spread around the views of a real
dataset (``--data`` with ``--model``, or a model trained there first by ``gscpr train``; without ``--data``, the
generated textured room of the tests), saved as a Blender-format folder (the dataset's horizontal field of view at
``--size``, square pixels) with coarse poses 2° / 3 % of the camera distance off. Then times the real command,
``gscpr refine`` (XFeat, PoseLib), for every process count (``torchrun --standalone --nproc_per_node P``; plain
``python -m gscpr`` for 1), worker count and batch size, on a fresh output folder each time. The wall time includes
start-up (imports, model and matcher loading, CUDA graph capture), so each setting also runs on ``--startup-views``
queries and the steady rate is ``(views - startup_views) / (T_views - T_startup)``. Efficiency = rate(P) / (P x
rate(1)). Each row also says how many queries were refined and their median errors against the true poses, and
whether its refined_poses.txt is byte for byte the first setting's with the same batch size. Prints JSON and a
table.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gscpr.camera import Camera
from gscpr.geometry import camera_center, perturb_pose, pose_errors, qt_to_pose
from gscpr.poses import read_poses, write_poses
from gscpr.synthetic import pose_inside, textured_room, write_blender_views


def make_query_set(args, root: Path) -> tuple[Path, Path, int, float, tuple[float, float, float]]:
    """``(model_path, data_dir, queries, distance, background)``: the scene model, a Blender folder of
    ``args.views`` renders of it with ``coarse.txt`` and ``true.txt``, the camera distance and the background."""
    from gscpr.bench.run import train_or_load
    from gscpr.data import DatasetError, detect_format, format_traits, load_dataset
    from gscpr.splat import save_ply
    from gscpr.splat.model import load_scene_model

    rng = np.random.default_rng(0)
    w, h = (int(v) for v in args.size.split("x"))
    background = (0.0, 0.0, 0.0)
    if args.data is None:
        model_path = root / "scene.ply"
        save_ply(model_path, textured_room())
        model = load_scene_model(model_path, args.device)
        cam = Camera.centered(w, h, 0.8 * w)
        poses = [pose_inside(rng) for _ in range(args.views)]
        distance = 1.0
    else:
        if args.model:
            model, model_path = load_scene_model(args.model, args.device), args.model
        else:  # root/model, trained by gscpr train as gscpr bench does
            model, model_path = train_or_load(args.data, root, args.train_steps, args.device)
        fmt = detect_format(args.data, "test")
        try:
            frames = load_dataset(args.data, "train", fmt)
        except DatasetError:  # a folder with test views only (the embedded demo scene)
            frames = load_dataset(args.data, "test", fmt)
        background = format_traits(fmt).background
        # The dataset's field of view across the width, square pixels: all a Blender folder can say.
        cam = Camera.centered(w, h, frames[0].camera.fx * w / frames[0].camera.width)
        seeds = np.stack([f.pose for f in frames])
        distance = float(np.median(np.linalg.norm(camera_center(seeds), axis=1)))
        # Around the dataset's own views: each a training view turned by up to 10° and moved by up to 10 %.
        picks = seeds[rng.integers(len(seeds), size=args.views)]
        poses = list(perturb_pose(picks, rng.uniform(0, 10, args.views), rng.uniform(0, 0.1 * distance, args.views),
                                  frame="world", rng=rng))  # fmt: skip
    names = write_blender_views(root / "data", model, cam, poses, background=background, backend="auto", ext="jpg")
    coarse = perturb_pose(np.stack(poses), 2.0, 0.03 * distance, frame="world", rng=1)
    write_poses(root / "coarse.txt", dict(zip(names, coarse, strict=True)))
    write_poses(root / "true.txt", dict(zip(names, poses, strict=True)))
    write_poses(root / "coarse_startup.txt", dict(list(zip(names, coarse, strict=True))[: args.startup_views]))
    return model_path, root / "data", len(names), distance, background


def accuracy(root: Path, out: Path, distance: float) -> dict:
    """How many queries were refined and their median errors against the true poses: a throughput figure is
    only worth having for refinements that work."""
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    true = read_poses(root / "true.txt")
    ok = [r for r in records if r["status"] == "refined"]
    if not ok:
        return {"refined": 0}
    rot, trans = pose_errors(np.stack([qt_to_pose(r["qvec"], r["tvec"]) for r in ok]),
                             np.stack([true[r["name"]] for r in ok]))  # fmt: skip
    return {"refined": len(ok), "median_rot_deg": round(float(np.median(rot)), 4),
            "median_trans_pct": round(100 * float(np.median(trans)) / distance, 4)}  # fmt: skip


def timed_run(args, model: Path, data: Path, poses: Path, out: Path, procs: int, workers: int, batch: int) -> float:
    """Wall seconds of one ``gscpr refine`` run (``procs`` processes under torchrun)."""
    launcher = [sys.executable, "-m", "gscpr"]
    if procs > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
                    "-m", "gscpr"]  # fmt: skip
    cmd = [*launcher, "refine", "--model", str(model), "--data", str(data), "--poses", str(poses), "--out", str(out),
           "--device", args.device, "--workers", str(workers), "--batch-size", str(batch),
           "--background", *map(str, args.background)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // procs))}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="a real dataset to spread the views around (default: generated room)")
    p.add_argument("--model", type=Path, help="its trained model (default: trained by gscpr train)")
    p.add_argument("--train-steps", type=int, default=7000)
    p.add_argument("--views", type=int, default=2000)
    p.add_argument("--startup-views", type=int, default=8)
    p.add_argument("--size", default="640x480")
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1], help="gscpr refine --batch-size values")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--work", type=Path, help="folder for the query set and outputs (default: a temporary one)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    root = args.work or Path(tempfile.mkdtemp(prefix="gscpr_scale_"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model, data, n, distance, args.background = make_query_set(args, root)
    print(f"query set: {n} views at {args.size} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu ({os.cpu_count()} cores)"
    gpus = torch.cuda.device_count() if args.device.startswith("cuda") else 0
    result = {"benchmark": "scale", "device": device, "gpus": gpus, "date": datetime.date.today().isoformat(),
              "torch": torch.__version__, "scene": str(args.data or "generated room"), "size": args.size,
              "matcher": "xfeat", "solver": "poselib", "rows": []}  # fmt: skip
    # Untimed: the first run pays for a cold file cache and first imports, which no setting should be charged.
    timed_run(args, model, data, root / "coarse_startup.txt", root / "warmup", 1, 1, 1)
    for procs in args.procs:
        for workers, batch in itertools.product(args.workers, args.batch_sizes):
            tag = f"p{procs}_w{workers}_b{batch}"
            row = {"tag": tag, "procs": procs, "gpus": min(procs, gpus), "workers": workers, "batch": batch,
                   "queries": n}  # fmt: skip
            try:
                t_start = timed_run(args, model, data, root / "coarse_startup.txt", root / f"startup_{tag}", procs,
                                    workers, batch)  # fmt: skip
                t_all = timed_run(args, model, data, root / "coarse.txt", root / f"out_{tag}", procs, workers, batch)
            except RuntimeError as e:  # recorded, and the other settings still measured
                print(e, file=sys.stderr)
                row["error"] = str(e)[-1500:]
            else:
                row |= {"seconds": round(t_all, 2), "startup_seconds": round(t_start, 2)}
                if t_all > t_start:
                    row["queries_per_s"] = round((n - args.startup_views) / (t_all - t_start), 2)
                else:
                    row["error"] = "the full run took no longer than the start-up run: use more --views"
                row |= accuracy(root, root / f"out_{tag}", distance)
                # Merged output against the first completed setting with the same batch size (threads and ranks
                # must not change the poses; batches may round differently).
                first = next(r for r in [*result["rows"], row] if r["batch"] == batch and "seconds" in r)
                row["same_poses_as"] = first["tag"]
                row["poses_identical"] = (root / f"out_{tag}" / "refined_poses.txt").read_bytes() == (
                    root / f"out_{first['tag']}" / "refined_poses.txt"
                ).read_bytes()
            result["rows"].append(row)
            print(json.dumps(row), flush=True)
            add_ratios(result["rows"])
            if args.out:  # after every setting: a run cut short keeps what it measured
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(result, indent=2))
    keys = ["procs", "gpus", "workers", "batch", "queries", "seconds", "startup_seconds", "queries_per_s", "efficiency",
            "speedup_vs_sequential", "refined", "median_rot_deg", "median_trans_pct", "poses_identical"]  # fmt: skip
    print(
        "\n| processes | GPUs | workers | batch | queries | wall s | start-up s | queries/s | efficiency "
        "| vs sequential | refined | median rot ° | median trans % of distance | poses as first |"
    )
    print("|---" * len(keys) + "|")
    for r in result["rows"]:
        print("| " + " | ".join(str(r.get(k, "failed")) for k in keys) + " |")


def add_ratios(rows: list[dict]) -> None:
    """Efficiency (rate / (processes x the 1-process rate at the same workers and batch size)) and the speed-up
    over the sequential loop (1 process, 1 worker, batch 1), for every row whose reference was measured."""
    rows = [r for r in rows if "error" not in r]
    base = {(r["workers"], r["batch"]): r["queries_per_s"] for r in rows if r["procs"] == 1}
    seq = base.get((1, 1))
    for r in rows:
        one = base.get((r["workers"], r["batch"]))
        r["efficiency"] = round(r["queries_per_s"] / (r["procs"] * one), 3) if one else None
        r["speedup_vs_sequential"] = round(r["queries_per_s"] / seq, 3) if seq else None


if __name__ == "__main__":
    main()
