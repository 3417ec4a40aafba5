"""Where the time of ``gscpr refine`` goes, end to end: the command under cProfile, one process, one worker.

    python benchmarks/profile_pipeline.py --model M --data D --poses coarse.txt --queries 300 --out $OUT/prof.txt

``benchmarks/profile_refine.py`` profiles the refinement of queries already in memory; this runs the whole
command (reading and decoding images, the refinement, records, progress) on the first ``--queries`` poses of
``--poses`` and reports: wall time per query, the per-stage medians the records carry (render, match, subpixel,
lift, pnp), and the functions by own and by cumulative time. Start-up (imports, model and matcher loading) is
measured separately, on ``--startup-queries`` queries, and left out of the per-query figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gscpr.cli import main as gscpr
from gscpr.poses import read_poses, write_poses
from gscpr.refine import STAGES


def run(args, poses: Path, out: Path, profiler: cProfile.Profile | None = None) -> float:
    cmd = ["refine", "--model", str(args.model), "--data", str(args.data), "--poses", str(poses), "--out", str(out),
           "--device", args.device, "--background", *map(str, args.background)]  # fmt: skip
    t0 = time.perf_counter()
    if profiler is None:
        gscpr(cmd)
    else:
        profiler.runcall(gscpr, cmd)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--poses", type=Path, required=True)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--startup-queries", type=int, default=8)
    p.add_argument("--background", type=float, nargs=3, default=(1.0, 1.0, 1.0))
    p.add_argument("--device", default="cuda")
    p.add_argument("--top", type=int, default=35)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gscpr_prof_"))
    poses = dict(list(read_poses(args.poses).items())[: args.queries])
    write_poses(work / "all.txt", poses)
    write_poses(work / "startup.txt", dict(list(poses.items())[: args.startup_queries]))

    run(args, work / "startup.txt", work / "warmup")  # untimed: a cold file cache and first CUDA use
    t_start = run(args, work / "startup.txt", work / "startup")
    profiler = cProfile.Profile()
    t_all = run(args, work / "all.txt", work / "all", profiler)
    per_query_ms = 1000 * (t_all - t_start) / (len(poses) - args.startup_queries)
    records = [json.loads(x) for x in (work / "all" / "results.jsonl").read_text().splitlines()]
    stages = {k: float(np.median([r["timings"].get(k, 0.0) for r in records])) * 1000 for k in STAGES}

    lines = [f"gscpr refine, {len(poses)} queries of {args.data}, one process, one worker",
             f"wall {t_all:.2f} s, start-up {t_start:.2f} s, {per_query_ms:.1f} ms per query after start-up",
             "median per-stage ms in the records: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()),
             f"sum of the stage medians: {sum(stages.values()):.1f} ms", ""]  # fmt: skip
    for key in ("tottime", "cumulative"):
        s = io.StringIO()
        pstats.Stats(profiler, stream=s).sort_stats(key).print_stats(args.top)
        lines += [f"--- by {key} ---", s.getvalue()]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        (args.out.with_suffix(".json")).write_text(json.dumps(
            {"queries": len(poses), "seconds": t_all, "startup_seconds": t_start, "ms_per_query": per_query_ms,
             "stage_median_ms": stages}, indent=2))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
