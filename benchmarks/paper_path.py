"""The paper's path on one device: per-query times of render, MASt3R network, nearest neighbours, lift and PnP.

GS-CPR as published takes 190 ms per query on an RTX 4090 (MASt3R 71 + matching 42 + PnP 52 ms); the target
here is under 60 ms per query with ``--recipe paper`` on one H200. The released weights cannot be downloaded on
these machines, so the network is the released ViT-L architecture with random weights (the same operations, so
the same time; ``--checkpoint`` takes real weights where they are), written as a checkpoint in the released
format and loaded through gscpr's matcher as the paper scripts load it
(``load_matcher("mast3r", device, checkpoint=..., **recipes.matcher_options(recipe, "mast3r", config))``).

On the GPU machine, in one call (prepare here first: the wheels and the mast3r code, under ignored paths):

    python benchmarks/prepare_gpu_wheels.py --no-lighterglue --mast3r      # .whl/ (20 MiB) and .gpu/mast3r (1 MiB)
    bash benchmarks/gpu_job.sh paper             # device run, carry [".whl", ".gpu/mast3r"]; $OUT/paper_path.json

The step runs both recipes with the variants ``base eager tf32 amp`` (``PAPER_VARIANTS`` changes them) and
``--pnp-sweep --workers 2 4 8`` (``PAPER_ARGS`` replaces those, e.g. ``--queries 32``), 16 timed queries per row,
cut at ``PAPER_TIMEOUT`` (420 s; the JSON keeps the rows done, compiled rows come last).

Anywhere with the mast3r code on ``PYTHONPATH`` (the small test network on the CPU):

    PYTHONPATH=src:../shared/third_party/mast3r python benchmarks/paper_path.py --tiny --queries 2 --max-size 128

What is measured. A 640x480 scene (``synthetic.textured_room``) and queries rendered at random poses inside it
(``synthetic.pose_inside``), coarse poses 3 deg / 5 cm away (``geometry.perturb_pose``). Each row is a recipe
(``paper``: ``recipes.get_recipe("paper")`` and its matcher options, PIL resize and the original keypoint
mapping; ``gscpr``: the project's recipe with the mast3r matcher) and a variant of the matcher: ``base`` (fp32,
gscpr's nearest neighbours; on a GPU the network replays from a CUDA graph), ``eager`` (the same, launched op by op),
``nn-mast3r`` (mast3r's ``fast_reciprocal_NNs``), ``amp`` (the network under
bfloat16 autocast), ``tf32`` (float32 with TF32 tensor-core products), ``compile`` / ``tf32-compile`` /
``amp-compile`` (``torch.compile`` of the network; a failure is reported, not fatal). One network is loaded;
the rows share it. Each query is refined with one pass (``iterations=1``,
no recovery renders: random weights find no pose, and gscpr's recovery renders would only multiply the failed
queries' passes), after ``--warmup`` queries, the device synchronised around each query. The stage times are
the refiner's (``RefineResult.timings``: render, match, sub-pixel, lift, PnP) and the matcher's
(``Mast3rMatcher.last_timings``: network, including the input resize, and nearest neighbours); ``match other``
is the rest of the match stage (keypoint mapping, the cap on the number of matches); ``total`` is the wall
time of the query. With random weights the network's time is the released model's, but the matches are
meaningless and their number not the real one's: PnP-RANSAC runs to its iteration limit (an upper bound of
its real time) and the nearest neighbours' walks differ, so those two times are indicative.
``--pnp-sweep``: random weights leave PnP no real matches to work on, so its real time is measured apart: the
recipe's solver (``recipes``' ``solver`` and options: OpenCV EPnP-RANSAC, 2000 iterations, 0.99, 1 px for the
paper) on correspondences made from the room itself, ``N`` render pixels with depth lifted to world points
(``lift_keypoints``, the recipe's depth sampling), seen from the true pose with 0.3 px noise, a fraction replaced by
uniform random pixels (outliers); median ms over ``--pnp-draws`` draws per ``N`` x inlier ratio, with the rotation
error of the pose found.
``--workers N ...``: each recipe's ``base`` matcher refines the timed queries ``N`` at once in threads, as the
paper scripts' ``--workers`` does (render and network one at a time under a lock; lifting and the CPU's PnP-RANSAC,
which releases the GIL, overlap): wall ms per query over the set, the throughput a run of many queries sees (each
query's own latency is the rows' ``total``).
``same matches``: on ``--agreement-pairs`` pairs (render at the coarse pose, query), the matches each variant
finds against those of its recipe's ``base`` row, as ``|A and B| / max(|A|, |B|)`` over the pairs (1.0:
identical; the ``base`` row itself: run twice, so 1.0 unless the network is not deterministic; ``agreement_s``:
those matches' seconds, compilation included). Prints JSON lines (the setup, then one per row) and a markdown
table; ``--out`` writes the whole summary as JSON (rewritten after each row: a run cut short keeps its rows).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import inspect
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from gscpr.camera import Camera
from gscpr.cudagraph import GraphedFunction
from gscpr.geometry import perturb_pose
from gscpr.match import MatchError, load_matcher
from gscpr.match.mast3r import (
    RELEASED_ARCHITECTURE,
    TINY_ARCHITECTURE,
    Mast3rMatcher,
    check_dependencies,
    write_random_checkpoint,
)
from gscpr.recipes import get_recipe, matcher_options
from gscpr.refine import Refiner, refine_query
from gscpr.refine.rendering import render_at
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room

#: variant -> (matcher options it changes, whether the network is compiled)
VARIANTS: dict[str, tuple[dict, bool]] = {
    "base": ({}, False),
    "eager": ({"cuda_graphs": False}, False),
    "nn-mast3r": ({"nn": "mast3r"}, False),
    "amp": ({"amp": True}, False),
    "tf32": ({"tf32": True}, False),
    "compile": ({"cuda_graphs": False}, True),
    "amp-compile": ({"amp": True, "cuda_graphs": False}, True),
    "tf32-compile": ({"tf32": True, "cuda_graphs": False}, True),
}
#: The paper's times per query on an RTX 4090 (ms): MASt3R network, matching, PnP, total.
PAPER_RTX4090_MS = {"network": 71.0, "nn": 42.0, "pnp": 52.0, "total": 190.0}
TARGET_MS = 60.0  # per query, --recipe paper, one H200
STAGES = ("render", "network", "nn", "match_other", "subpixel", "lift", "pnp", "total")
#: The matcher options a row sets (each recipe's, the constructor's default where the recipe says nothing).
OPTIONS = ("resize", "keypoints", "nn", "amp", "tf32", "cuda_graphs")
WIDTH, HEIGHT, FOCAL = 640, 480, 525.0


def configured(matcher: Mast3rMatcher, options: dict) -> Mast3rMatcher:
    """A shallow copy of ``matcher`` (the network shared) with ``options`` (of :data:`OPTIONS`) set, the others at
    the constructor's defaults."""
    defaults = inspect.signature(Mast3rMatcher.__init__).parameters
    m = copy.copy(matcher)
    for name in OPTIONS:
        setattr(m, name, options.get(name, defaults[name].default))
    m._graphed = GraphedFunction(m._forward, enabled=m.cuda_graphs)  # its own graphs, of its own options
    return m


def match_set(matches) -> set[tuple[float, ...]]:
    """The matches as a set of ``(x0, y0, x1, y1)``, rounded to 1/1000 px."""
    return set(map(tuple, np.round(np.hstack([matches.kpts0, matches.kpts1]), 3).tolist()))


def pair_matches(matcher: Mast3rMatcher, pairs: list) -> list[set[tuple[float, ...]]]:
    """:func:`match_set` of each ``(image0, image1)`` pair's matches."""
    return [match_set(matcher.match(a, b)) for a, b in pairs]


def same_fraction(ref: list[set], other: list[set]) -> float:
    """``|A and B| / max(|A|, |B|)`` summed over the pairs: 1.0 when every pair's matches are identical."""
    common = sum(len(a & b) for a, b in zip(ref, other, strict=True))
    return common / max(1, sum(max(len(a), len(b)) for a, b in zip(ref, other, strict=True)))


def make_queries(scene, n: int, seed: int = 0) -> tuple[Camera, list[np.ndarray], list[np.ndarray]]:
    """``n`` query images ``[480, 640, 3]`` rendered at random poses inside the room and their coarse w2c poses
    (3 deg, 5 cm from the truth)."""
    cam = Camera.centered(WIDTH, HEIGHT, FOCAL)
    rng = np.random.default_rng(seed)
    gts = [pose_inside(rng) for _ in range(n)]
    with torch.inference_mode():
        images = [render(scene, cam, p).rgb[0].cpu().numpy() for p in gts]
    return cam, images, [perturb_pose(p, 3.0, 0.05, frame="world", rng=i) for i, p in enumerate(gts)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_row(matcher: Mast3rMatcher, cfg, scene, cam, images, coarse, warmup: int) -> dict:
    """Refine ``images[warmup:]`` one pass each after ``images[:warmup]``; median stage times (ms), statuses."""
    dev = matcher.device
    t0 = time.perf_counter()
    for img, pose in zip(images[:warmup], coarse[:warmup], strict=True):
        refine_query(scene, img, cam, pose, matcher, cfg)
    _sync(dev)
    warm_s = time.perf_counter() - t0
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times, statuses, matches, failures = [], {}, [], []
    t_all = time.perf_counter()
    for img, pose in zip(images[warmup:], coarse[warmup:], strict=True):
        _sync(dev)
        t0 = time.perf_counter()
        r = refine_query(scene, img, cam, pose, matcher, cfg)
        _sync(dev)
        wall = time.perf_counter() - t0
        if r.message.startswith("matcher failed"):
            failures.append(r.message)
        net, nn = matcher.last_timings["network"], matcher.last_timings["nn"]  # one pass: this query's pair
        t = r.timings
        times.append([t["render"], net, nn, t["match"] - net - nn, t["subpixel"], t["lift"], t["pnp"], wall])
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
        matches.append(r.num_matches)
    _sync(dev)
    elapsed = time.perf_counter() - t_all
    if failures:
        raise RuntimeError(failures[0])
    med = np.median(np.array(times) * 1000, axis=0)
    return {
        "ms": {s: round(float(v), 3) for s, v in zip(STAGES, med, strict=True)},
        "ms_total_mean": round(float(np.mean([t[-1] for t in times]) * 1000), 3),
        "queries_per_s": round(len(times) / elapsed, 3),
        "matches_median": float(np.median(matches)),
        "statuses": statuses,
        "warmup_s": round(warm_s, 3),
        "peak_mem_mb": round(torch.cuda.max_memory_allocated(dev) / 2**20) if dev.type == "cuda" else None,
    }


def throughput_row(matcher: Mast3rMatcher, cfg, scene, cam, images, coarse, warmup: int, workers: int) -> dict:
    """``images[warmup:]`` refined ``workers`` at once in threads, as the paper scripts' ``--workers`` does (one
    :class:`~gscpr.refine.Refiner` whose lock serialises render, network and nearest neighbours; lifting and PnP
    overlap): wall ms per query over the whole set, after ``images[:warmup]`` refined the same way."""
    refiner = Refiner(scene, matcher, cfg, threading.Lock())
    with ThreadPoolExecutor(workers, thread_name_prefix="paper-path") as pool:

        def run(imgs, poses):
            return list(pool.map(lambda ip: refiner.refine(ip[0], cam, ip[1]), zip(imgs, poses, strict=True)))

        run(images[:warmup], coarse[:warmup])
        _sync(matcher.device)
        t0 = time.perf_counter()
        results = run(images[warmup:], coarse[warmup:])
        _sync(matcher.device)
        wall = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    n = len(results)
    return {"workers": workers, "ms_per_query": round(wall / n * 1000, 3), "queries_per_s": round(n / wall, 3),
            "pnp_ms_median": round(float(np.median([r.timings["pnp"] for r in results])) * 1000, 3),
            "statuses": statuses}  # fmt: skip


def pnp_sweep(cfg, scene, cam, counts, ratios, draws: int, seed: int = 0) -> list[dict]:
    """The recipe's PnP-RANSAC on generated correspondences: for each ``N`` in ``counts`` and inlier ratio in
    ``ratios``, ``draws`` draws (each at a random pose in the room); median solve ms, inliers found and rotation
    error (deg) of the pose found."""
    from gscpr.geometry import pose_errors
    from gscpr.refine.lift import lift_keypoints, solve_camera
    from gscpr.solvers import get_solver

    solver, options = get_solver(cfg.solver, "absolute"), cfg.pose_solver_options()
    pinhole = solve_camera(cam, cfg.principal_point)
    rng = np.random.default_rng(seed)
    rows = []
    for n in counts:
        for ratio in ratios:
            ms, found, rot = [], [], []
            for _ in range(draws):
                pose = pose_inside(rng)
                with torch.inference_mode():
                    r = render_at(scene, cam, pose, cfg)
                px = rng.uniform([0, 0], [cam.width - 1, cam.height - 1], size=(4 * n, 2))
                p3d, valid = lift_keypoints(px, r.depth, r.alpha, pinhole, pose, cfg.depth_sampling, cfg.min_alpha,
                                            cfg.max_depth_jump)  # fmt: skip
                p3d = p3d[:n]
                p2d = pinhole.project(p3d @ pose[:3, :3].T + pose[:3, 3]) + rng.normal(0, 0.3, (len(p3d), 2))
                bad = rng.random(len(p2d)) >= ratio
                p2d[bad] = rng.uniform([0, 0], [cam.width, cam.height], size=(int(bad.sum()), 2))
                t0 = time.perf_counter()
                est = solver.solve(p2d, p3d, pinhole, options)
                ms.append((time.perf_counter() - t0) * 1000)
                found.append(est.num_inliers if est else 0)
                rot.append(float(pose_errors(est.pose, pose)[0]) if est else float("nan"))
            rows.append({"matches": n, "inlier_ratio": ratio, "solver": cfg.solver,
                         "ms_median": round(float(np.median(ms)), 3), "inliers_median": float(np.median(found)),
                         "rot_err_deg_median": round(float(np.nanmedian(rot)), 4) if np.isfinite(rot).any() else None,
                         "draws": draws})  # fmt: skip
    return rows


def projections(result: dict) -> list[dict]:
    """Per recipe, its fastest row's median stages except PnP (the network's time does not depend on the weights)
    plus each PnP sweep row's median: the per-query time with matches of that number and inlier ratio."""
    out = []
    for recipe in dict.fromkeys(r["recipe"] for r in result["rows"]):
        best = min((r for r in result["rows"] if r["recipe"] == recipe), key=lambda r: r["ms"]["total"])
        other = sum(best["ms"][s] for s in STAGES[:-2])  # every stage but PnP and the total
        for p in result.get("pnp_sweep", []):
            if p["recipe"] == recipe:
                out.append({"recipe": recipe, "variant": best["variant"], "matches": p["matches"],
                            "inlier_ratio": p["inlier_ratio"], "other_ms": round(other, 2),
                            "pnp_ms": p["ms_median"], "total_ms": round(other + p["ms_median"], 2)})  # fmt: skip
    return out


def markdown(result: dict) -> str:
    """The rows as a markdown table, the paper's numbers below them, and whether the target is met."""
    head = ("| recipe | variant | render | network | NN | match other | sub-pixel | lift | PnP | total ms | queries/s "
            "| matches | same matches | peak MB |")  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in result["rows"]:
        ms = r["ms"]
        cells = [r["recipe"], r["variant"], *(f"{ms[s]:.1f}" for s in STAGES[:-1]), f"**{ms['total']:.1f}**",
                 f"{r['queries_per_s']:.1f}", f"{r['matches_median']:.0f}", f"{r['same_matches']:.3f}",
                 r["peak_mem_mb"] if r["peak_mem_mb"] is not None else "-"]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    p = PAPER_RTX4090_MS
    lines.append(f"| GS-CPR paper (RTX 4090) | | | {p['network']:.0f} | {p['nn']:.0f} | | | | {p['pnp']:.0f} "
                 f"| {p['total']:.0f} | | | | |")  # fmt: skip
    for name, why in result["failed"].items():
        lines.append(f"\n{name}: failed ({why})")
    if result.get("pnp_sweep"):
        lines += [
            "",
            "PnP on generated matches (the recipe's solver; ms median, inliers found, rotation error deg):",
            "",
            "| recipe | solver | matches | inlier ratio | PnP ms | inliers | rot err ° |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in result["pnp_sweep"]:
            lines.append(
                f"| {r['recipe']} | {r['solver']} | {r['matches']} | {r['inlier_ratio']:.1f} | "
                f"{r['ms_median']:.1f} | {r['inliers_median']:.0f} | {r['rot_err_deg_median']} |"
            )
    if result.get("throughput"):
        lines += ["", "Queries refined several at once (`--workers N`: render and network one at a time under a lock, "
                  "PnP overlapping), wall time over the whole set:", "",
                  "| recipe | variant | workers | ms per query | queries/s | PnP ms (median, each) |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for t in result["throughput"]:
            lines.append(f"| {t['recipe']} | {t['variant']} | {t['workers']} | **{t['ms_per_query']:.1f}** | "
                         f"{t['queries_per_s']:.1f} | {t['pnp_ms_median']:.1f} |")  # fmt: skip
    projected = projections(result)
    if projected:
        head = "Projected per query: the fastest row's measured stages other than PnP, plus the sweep's PnP:"
        lines += ["", head, "",
                  "| recipe | variant | matches | inlier ratio | other stages ms | PnP ms | total ms |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for p in projected:
            lines.append(f"| {p['recipe']} | {p['variant']} | {p['matches']} | {p['inlier_ratio']:.1f} | "
                         f"{p['other_ms']:.1f} | {p['pnp_ms']:.1f} | **{p['total_ms']:.1f}** |")  # fmt: skip
    best = min((r for r in result["rows"] if r["recipe"] == "paper"), key=lambda r: r["ms"]["total"], default=None)
    if best is not None:
        verdict = "met" if best["ms"]["total"] < TARGET_MS else "not met"
        lines.append(f"\n--recipe paper, fastest variant {best['variant']}: {best['ms']['total']:.1f} ms per query "
                     f"on {result['device']} (target < {TARGET_MS:.0f} ms: {verdict})")  # fmt: skip
        through = [t for t in result.get("throughput", []) if t["recipe"] == "paper"]
        if through:
            top = min(through, key=lambda t: t["ms_per_query"])
            verdict = "met" if top["ms_per_query"] < TARGET_MS else "not met"
            lines.append(f"--recipe paper --workers {top['workers']}: {top['ms_per_query']:.1f} ms per query "
                         f"(target < {TARGET_MS:.0f} ms: {verdict})")  # fmt: skip
    return "\n".join(lines)


def write(result: dict, out: Path | None) -> None:
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", nargs="+", default=["paper", "gscpr"], choices=["paper", "gscpr"])
    p.add_argument("--variants", nargs="+", default=["base", "nn-mast3r", "amp", "tf32"], choices=list(VARIANTS))
    p.add_argument("--tiny", action="store_true", help="the small test network instead of the released ViT-L")
    p.add_argument("--checkpoint", help="a MASt3R checkpoint (file, folder or cached model name) instead of "
                   "random weights")  # fmt: skip
    p.add_argument("--max-size", type=int, default=512, help="the network's input long side (the paper: 512)")
    p.add_argument("--queries", type=int, default=16, help="timed queries per row")
    p.add_argument("--warmup", type=int, default=2, help="queries refined before the timed ones, per row")
    p.add_argument("--agreement-pairs", type=int, default=4, help="pairs on which the variants' matches are compared")
    p.add_argument("--splats-per-side", type=int, default=200, help="6 x N^2 Gaussians (200: 240k)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    p.add_argument("--pnp-sweep", action="store_true", help="also time each recipe's PnP on generated matches")
    p.add_argument("--pnp-counts", type=int, nargs="+", default=[1000, 3000], help="matches per draw")
    p.add_argument("--pnp-ratios", type=float, nargs="+", default=[0.2, 0.4, 0.6, 0.8], help="inlier ratios")
    p.add_argument("--pnp-draws", type=int, default=10, help="draws per matches x inlier ratio")
    p.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[],
        help="also time each recipe's base variant with this many queries refined at once in threads",
    )
    p.add_argument("--out", type=Path, help="write the JSON summary here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns the summary (also printed, and written to ``--out``)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    try:
        check_dependencies()
    except MatchError as e:
        sys.exit(f"paper_path.py: {e}")
    configs = {r: get_recipe(r, iterations=1, recovery=()) for r in args.recipe}
    result = {
        "benchmark": "paper_path",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "architecture": "checkpoint" if args.checkpoint else "tiny" if args.tiny else "released ViT-L",
        "weights": "given" if args.checkpoint else "random",
        "resolution": f"{WIDTH}x{HEIGHT}",
        "max_size": args.max_size,
        "queries": args.queries,
        "warmup": args.warmup,
        "paper_rtx4090_ms": PAPER_RTX4090_MS,
        "target_ms": TARGET_MS,
        "rows": [],
        "failed": {},
        "pnp_sweep": [],
        "throughput": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        checkpoint = args.checkpoint or write_random_checkpoint(
            Path(tmp) / "mast3r.pth", TINY_ARCHITECTURE if args.tiny else RELEASED_ARCHITECTURE
        )
        t1 = time.perf_counter()
        first = args.recipe[0]  # loaded as the paper scripts load it; the other recipe's options are set on a copy
        try:
            loaded = load_matcher("mast3r", device, checkpoint=str(checkpoint), max_size=args.max_size,
                                  **matcher_options(first, "mast3r", configs[first]))  # fmt: skip
        except MatchError as e:
            sys.exit(f"paper_path.py: {e}")
        result["checkpoint_write_s"] = round(t1 - t0, 1)
        result["load_s"] = round(time.perf_counter() - t1, 1)
        if not args.checkpoint:
            result["checkpoint_mb"] = round(Path(checkpoint).stat().st_size / 2**20)
    result["parameters"] = sum(p.numel() for p in loaded.model.parameters())
    scene = textured_room(n_side=args.splats_per_side).to(device)
    result["gaussians"] = len(scene)
    cam, images, coarse = make_queries(scene, args.warmup + args.queries)
    print(json.dumps({k: v for k, v in result.items() if k not in ("rows", "failed")}), flush=True)

    agree = range(args.warmup, args.warmup + min(args.queries, args.agreement_pairs))
    with torch.inference_mode():  # the refinement's pairs: render at the coarse pose, query
        pairs = [(render_at(scene, cam, coarse[i], configs[first]).rgb, images[i]) for i in agree]
    eager, compiled, references = loaded.model, None, {}
    # compiled rows last (their compilation may be slow): a run cut short keeps the others
    rows = sorted(((r, v) for r in args.recipe for v in args.variants), key=lambda rv: VARIANTS[rv[1]][1])
    for recipe, variant in rows:
        cfg = configs[recipe]
        options = matcher_options(recipe, "mast3r", cfg)
        if recipe not in references:
            references[recipe] = pair_matches(configured(loaded, options), pairs)
        reference = references[recipe]
        changes, compile_it = VARIANTS[variant]
        matcher = configured(loaded, {**options, **changes})
        name = f"{recipe} {variant}"
        try:
            if compile_it:
                compiled = torch.compile(eager) if compiled is None else compiled  # one, shared by the rows
                matcher.model = compiled
            t0 = time.perf_counter()
            found = pair_matches(matcher, pairs)  # compiles here
            first_s = time.perf_counter() - t0
            row = time_row(matcher, cfg, scene, cam, images, coarse, args.warmup)
        except Exception as e:  # noqa: BLE001  (a compiler failure is a result to report, not a crash)
            if not compile_it:
                raise
            result["failed"][name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500]
            print(f"{name}: failed: {result['failed'][name]}", flush=True)
            continue
        row = {"recipe": recipe, "variant": variant,
               "options": {k: getattr(matcher, k) for k in OPTIONS} | {"compiled": compile_it},
               "same_matches": round(same_fraction(reference, found), 4), "agreement_pairs": len(pairs),
               "agreement_s": round(first_s, 3), **row}  # fmt: skip
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
        write(result, args.out)
    for recipe in args.recipe if args.workers else ():
        matcher = configured(loaded, matcher_options(recipe, "mast3r", configs[recipe]))  # the base variant
        for n in args.workers:
            row = {"recipe": recipe, "variant": "base",
                   **throughput_row(matcher, configs[recipe], scene, cam, images, coarse, args.warmup, n)}  # fmt: skip
            result["throughput"].append(row)
            print(json.dumps(row), flush=True)
            write(result, args.out)
    if args.pnp_sweep:
        for recipe in args.recipe:  # on the host the solvers run on, after the device rows
            for row in pnp_sweep(configs[recipe], scene, cam, args.pnp_counts, args.pnp_ratios, args.pnp_draws):
                result["pnp_sweep"].append({"recipe": recipe, **row})
                print(json.dumps(result["pnp_sweep"][-1]), flush=True)
    result["projected"] = projections(result)
    print("\n" + markdown(result), flush=True)
    write(result, args.out)
    return result


if __name__ == "__main__":
    main()
