"""``gscpr refine``: refine every coarse pose of a query set, resumably, and report.

    gscpr refine --model scene.ply --data datasets/pgt_7scenes_chess --poses coarse.txt --out outputs/chess

Writes under ``--out``: ``refined_poses.txt`` (``name qw qx qy qz tx ty tz``, w2c; failed queries keep their
coarse pose), ``results.jsonl`` (one line per query: status, inlier counts, timings per stage, the pose),
``config.json`` (everything needed to rerun), ``summary.md`` (before/after table when ground truth is known) and
optional ``overlays/``. A query that fails is recorded and the run goes on; rerunning the same command skips
the queries already in ``results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .camera import Camera
from .data.frame import DatasetError, Frame
from .data.images import load_rgb, to_uint8
from .distributed import Dist, init_distributed, shard
from .geometry import pose_to_qt, qt_to_pose
from .match import MATCHERS, MatchError, load_matcher
from .poses import PoseFileError, UnknownNameError, read_poses, write_poses
from .refine import SOLVERS, STAGES, RefineConfig, RefineResult, refine_batch, refine_query, refine_relative

__all__ = ["Query", "draw_overlay", "overlay_image", "query_file_stem", "refine_queries"]


@dataclass
class Query:
    """One query: its name in the coarse pose file, its image and camera, the coarse pose, optional GT."""

    name: str
    image_path: Path
    camera: Camera
    coarse: np.ndarray
    gt: np.ndarray | None = None
    render_files: tuple[Path, Path] | None = None  # (RGB image, depth .npy) at the coarse pose already on disk


def _record(q: Query, r: RefineResult) -> dict:
    qv, t = pose_to_qt(r.pose)
    return {"name": q.name, **r.summary(), "qvec": qv.tolist(), "tvec": t.tolist()}


def load_done(jsonl: Path) -> dict[str, dict]:
    """Records already written by an interrupted run (a torn last line is ignored)."""
    done: dict[str, dict] = {}
    if jsonl.is_file():
        for line in jsonl.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[rec["name"]] = rec
    return done


def load_records(out_dir: Path) -> dict[str, dict]:
    """Every record of an output folder: the merged ``results.jsonl`` and the shard files of ranks that have
    not been merged yet (a killed multi-process run)."""
    done = load_done(out_dir / "results.jsonl")
    for f in sorted((out_dir / "shards").glob("rank*.jsonl")):
        done.update(load_done(f))
    return done


def merge_records(out_dir: Path, names: list[str]) -> dict[str, dict]:
    """Rewrite ``results.jsonl`` with every record of the folder, the queries' in ``names`` order first (so
    that any number of processes, in any order, give the same file), then drop the merged shard files."""
    records, known = load_records(out_dir), set(names)
    order = [n for n in names if n in records] + [n for n in records if n not in known]
    tmp = out_dir / "results.jsonl.tmp"
    tmp.write_text("".join(json.dumps(records[n]) + "\n" for n in order), encoding="utf-8")
    tmp.replace(out_dir / "results.jsonl")  # atomic: a crash here loses nothing
    for f in (out_dir / "shards").glob("rank*.jsonl"):
        f.unlink()
    return {n: records[n] for n in order}


def _open_log(path: Path):
    """``path`` opened to append records; a torn last line left by a killed run is ended first, so that the
    next record starts on a line of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, 2)
            torn = f.read(1) != b"\n"
        if torn:
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n")
    return open(path, "a", encoding="utf-8")


def _ordered(pool: ThreadPoolExecutor | None, fn: Callable, items: Iterable, ahead: int) -> Iterator:
    """``fn`` over ``items`` in ``pool`` with at most ``ahead`` calls in flight, results in order (memory stays
    bounded on query sets of any size); in this thread when ``pool`` is None."""
    if pool is None:
        yield from map(fn, items)
        return
    it, window = iter(items), deque()
    for x in islice(it, ahead):
        window.append(pool.submit(fn, x))
    while window:
        fut = window.popleft()
        for x in islice(it, 1):
            window.append(pool.submit(fn, x))
        yield fut.result()


def overlay_image(
    render_rgb: np.ndarray | torch.Tensor,
    query_rgb: np.ndarray,
    r: RefineResult,
    max_lines: int = 300,
    label: bool = True,
) -> np.ndarray:
    """Render (left) and query (right) side by side with match lines (green: refined, red: not) and, with
    ``label``, the status written on top; ``[H, W_render + W_query, 3]`` uint8 RGB."""

    a, b = (to_uint8(im.cpu().numpy() if isinstance(im, torch.Tensor) else im) for im in (render_rgb, query_rgb))
    h = max(a.shape[0], b.shape[0])
    canvas = np.zeros((h, a.shape[1] + b.shape[1], 3), np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    canvas[: b.shape[0], a.shape[1] :] = b
    if r.matches is not None and len(r.matches):
        idx = np.linspace(0, len(r.matches) - 1, min(max_lines, len(r.matches))).astype(int)
        for i in idx:
            p0 = tuple(int(v) for v in np.round(r.matches.kpts0[i]))
            p1 = (int(round(r.matches.kpts1[i, 0])) + a.shape[1], int(round(r.matches.kpts1[i, 1])))
            cv2.line(canvas, p0, p1, (0, 255, 0) if r.ok else (255, 0, 0), 1, cv2.LINE_AA)
    if label:
        text = f"{r.status}: {r.num_matches} matches, {r.num_lifted} lifted, {r.num_inliers} inliers"
        for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # outlined: readable on dark and white
            cv2.putText(canvas, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, width, cv2.LINE_AA)
    return canvas


def query_file_stem(name: str) -> str:
    """A query name as one file-name stem for files written per query (overlays, thumbnails): its extension
    dropped, path separators and other characters unsafe in file names turned into ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(Path(name).with_suffix("")))


def draw_overlay(
    render_rgb: np.ndarray | torch.Tensor, query_rgb: np.ndarray, r: RefineResult, path: Path, max_lines: int = 300
) -> None:
    """:func:`overlay_image` written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(overlay_image(render_rgb, query_rgb, r, max_lines), cv2.COLOR_RGB2BGR))


def _load_query(q: Query, load_image: Callable[[Path], np.ndarray]) -> tuple[np.ndarray, tuple | None]:
    """The query image (checked against its camera) and the render on disk at its coarse pose, if any."""
    image = load_image(q.image_path)
    if image.shape[:2] != (q.camera.height, q.camera.width):
        raise DatasetError(
            f"{q.image_path}: image is {image.shape[1]}x{image.shape[0]}, camera says "
            f"{q.camera.width}x{q.camera.height} (wrong intrinsics?)"
        )
    rendered = None
    if q.render_files is not None:  # read here, one query at a time, not all up front
        rgb_file, depth_file = q.render_files
        rendered = (load_image(rgb_file), np.load(depth_file).astype(np.float32), None, q.camera)
    return image, rendered


def _bad_input(q: Query, e: Exception) -> RefineResult:
    return RefineResult(pose=q.coarse, coarse=q.coarse, status="bad_input", message=str(e))


def refine_queries(
    model,
    queries: list[Query],
    matcher,
    cfg: RefineConfig,
    out_dir: str | Path,
    relative: bool = False,
    overlays: int = 0,
    load_image: Callable[[Path], np.ndarray] | None = None,
    progress: bool = True,
    batch_size: int = 1,
    on_result: Callable[[Query, RefineResult, np.ndarray | None], None] | None = None,
    dist: Dist | None = None,
    workers: int = 1,
) -> dict[str, dict]:
    """Refine ``queries``, appending one JSON line per query to ``out_dir/results.jsonl`` as it goes.

    Queries with a record in the folder are skipped (resume). Query images are read and decoded ahead by a
    thread pool. ``workers > 1`` refines that many queries at once in threads: rendering and matching take
    turns on the device while the others lift and solve PnP. With ``batch_size > 1`` (absolute refinement,
    rendering on the fly) queries of one image size are refined ``batch_size`` at a time by
    :func:`refine_batch`: one render call and one feature-extraction call per batch, the rest of each query in
    the worker threads. ``on_result(query, result, image)`` is called for each query refined now (``image``
    None where it could not be read).

    Under torchrun (``dist``, :mod:`gscpr.distributed`) each rank refines its share of what is left into
    ``shards/rank<r>.jsonl`` and rank 0 merges the records into ``results.jsonl`` when all are done. Returns
    every record by name (on rank 0, all of them).
    """
    load_image = load_image or load_rgb
    dist = dist or Dist()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = load_records(out_dir)
    dist.barrier()  # every rank has seen what is done before any rank writes
    todo = [q for q in queries if q.name not in done]
    if dist.distributed:
        todo = [todo[i] for i in shard([q.camera.width * q.camera.height for q in todo], dist.rank, dist.world_size)]
        log_path = out_dir / "shards" / f"rank{dist.rank}.jsonl"
        overlays = -(-overlays // dist.world_size)  # the overlays are shared out too
    else:
        log_path = out_dir / "results.jsonl"
    solve = refine_relative if relative else refine_query
    batch_size = 1 if relative else max(1, batch_size)
    gpu_lock = threading.Lock() if workers > 1 else None
    drawn = len(list((out_dir / "overlays").glob("*.jpg"))) if overlays else 0

    def load(q: Query):
        try:
            return q, *_load_query(q, load_image), None
        except (DatasetError, OSError, ValueError) as e:
            return q, None, None, e

    def refine_one(item) -> tuple[Query, RefineResult, np.ndarray | None]:
        q, image, rendered, error = item
        if error is not None:
            return q, _bad_input(q, error), None
        try:
            r = solve(model, image, q.camera, q.coarse, matcher, cfg, rendered=rendered, gpu_lock=gpu_lock)
        except (DatasetError, OSError, ValueError, RuntimeError) as e:
            r = _bad_input(q, e)
        return q, r, image

    def refine_chunk(chunk: list) -> list[tuple[Query, RefineResult, np.ndarray | None]]:
        """A batch: queries rendered on the fly are grouped by size for refine_batch, the rest one by one."""
        results, groups = {}, {}
        for item in chunk:
            q, image, rendered, error = item
            if error is None and rendered is None:
                groups.setdefault(q.camera.size, []).append(item)
            else:
                results[q.name] = refine_one(item)
        for group in groups.values():
            qs, images = [it[0] for it in group], [it[1] for it in group]
            try:
                rs = refine_batch(model, images, [q.camera for q in qs], np.stack([q.coarse for q in qs]), matcher, cfg,
                                  pool=pool)  # fmt: skip
            except (ValueError, RuntimeError):  # a batch-wide failure: one by one, each recording its own
                rs = [refine_one(it)[1] for it in group]
            results.update({q.name: (q, r, im) for q, r, im in zip(qs, rs, images, strict=True)})
        return [results[item[0].name] for item in chunk]  # in query order, whatever the grouping

    with (
        ThreadPoolExecutor(2, thread_name_prefix="gscpr-load") as io,
        ThreadPoolExecutor(workers, thread_name_prefix="gscpr-refine") if workers > 1 else nullcontext() as pool,
        _open_log(log_path) as log,
        tqdm(total=len(todo), desc=f"refining{f' [rank {dist.rank}]' if dist.distributed else ''}", unit="query",
             disable=not progress) as bar,
    ):  # fmt: skip
        loaded = _ordered(io, load, todo, ahead=2 * max(workers, batch_size) + 2)
        if batch_size > 1:
            chunks = iter(lambda: list(islice(loaded, batch_size)), [])
            refined = (x for chunk in chunks for x in refine_chunk(chunk))
        else:
            refined = _ordered(pool, refine_one, loaded, ahead=workers)
        for q, r, image in refined:
            rec = _record(q, r)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            done[q.name] = rec
            if drawn < overlays and image is not None and r.render_rgb is not None:
                path = out_dir / "overlays" / f"{query_file_stem(q.name)}.jpg"
                draw_overlay(r.render_rgb, image, r, path)
                drawn += 1
            if on_result is not None:
                on_result(q, r, image)
            bar.update(1)
    dist.barrier()  # all shards written
    if dist.is_main:
        done = merge_records(out_dir, [q.name for q in queries])
    dist.barrier()  # merged: the next scene starts from one file
    return done


def poses_from_records(records: dict[str, dict], names: list[str]) -> dict[str, np.ndarray]:
    return {n: qt_to_pose(records[n]["qvec"], records[n]["tvec"]) for n in names if n in records}


# ----------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="3DGS PLY or model folder (3DGS / Scaffold-GS)")
    parser.add_argument("--data", type=Path, required=True, help="query dataset folder (any format gscpr reads)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--poses", type=Path, required=True, help="coarse poses (w2c text file)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scheme", default="auto", help="image-name scheme matching --poses to --data")
    parser.add_argument("--matcher", default="xfeat", choices=MATCHERS)
    parser.add_argument("--matcher-checkpoint", help="MASt3R checkpoint (--matcher mast3r)")
    parser.add_argument("--max-size", type=int, help="matcher input long side (default: the matcher's)")
    parser.add_argument("--solver", default="poselib", choices=SOLVERS)
    parser.add_argument("--ransac-px", type=float, default=2.0)
    parser.add_argument("--min-inliers", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--no-subpixel", action="store_true", help="skip the sub-pixel alignment of keypoints")
    parser.add_argument("--render-scale", type=float, default=1.0,
                        help="render and match at this fraction of the query size (large queries)")  # fmt: skip
    parser.add_argument("--relative", action="store_true", help="GS-CPR_rel: relative pose + depth scale")
    parser.add_argument("--background", type=float, nargs=3, default=(0.0, 0.0, 0.0))
    parser.add_argument("--overlays", type=int, default=0, help="write match overlays for the first N queries")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="refine queries of one image size this many at a time (one render and one feature "
                        "extraction call per batch; absolute refinement rendered on the fly)")  # fmt: skip
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="refine this many queries at once in threads (lifting and PnP overlap the device work)",
    )
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="under torchrun, cuda means each rank's own GPU (LOCAL_RANK)",
    )
    parser.add_argument("--backend", default="auto", choices=["auto", "gsplat", "torch"])


def build_queries(
    frames: list[Frame], coarse: dict[str, np.ndarray], scheme: str = "auto"
) -> tuple[list[Query], list[str]]:
    """Queries for the coarse poses whose image the dataset has, and the names it does not have."""
    from .poses import canonical_name, guess_name_scheme

    scheme = guess_name_scheme([f.name for f in frames]) if scheme == "auto" else scheme
    by_key = {canonical_name(f.name, scheme): f for f in frames}
    queries, missing = [], []
    for name, pose in coarse.items():
        try:
            f = by_key.get(canonical_name(name, scheme))
        except UnknownNameError:
            f = None
        if f is None:
            missing.append(name)
            continue
        queries.append(Query(name, f.image_path, f.camera, pose, f.pose))
    return queries, missing


def finish(out: Path, queries: list[Query], records: dict[str, dict], title: str, unrefined: dict | None = None) -> str:
    """Write refined_poses.txt (``unrefined`` poses pass through) and summary.md; return the report text."""
    names = [q.name for q in queries]
    refined = poses_from_records(records, names)
    write_poses(out / "refined_poses.txt", {**refined, **(unrefined or {})})
    statuses: dict[str, int] = {}
    for n in names:
        s = records[n]["status"]
        statuses[s] = statuses.get(s, 0) + 1
    if unrefined:
        statuses["no_image"] = len(unrefined)
    lines = [f"{len(names)} queries: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))]
    gt = {q.name: q.gt for q in queries if q.gt is not None}
    if gt:
        from .evaluate import evaluate_scene, format_table

        before = evaluate_scene(
            {n: q.coarse for n, q in zip(names, queries, strict=True) if n in gt}, gt, title, scheme="exact"
        )
        after = evaluate_scene({n: refined[n] for n in gt}, gt, title, scheme="exact")
        lines.append(format_table([before], [after], f"{title}: coarse → refined"))
    timing = np.array([[records[n]["timings"].get(k, 0.0) for k in STAGES] for n in names])
    if len(timing):
        med = np.median(timing, axis=0) * 1000
        lines.append("median ms per query: " + ", ".join(f"{k} {v:.1f}" for k, v in zip(STAGES, med, strict=True)))
    text = "\n\n".join(lines)
    (out / "summary.md").write_text(text + "\n", encoding="utf-8")
    return text


def run(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .splat.gaussians import PlyFormatError
    from .splat.model import load_scene_model
    from .splat.scaffold import ScaffoldFormatError

    cfg = RefineConfig(solver=args.solver, ransac_px=args.ransac_px, min_inliers=args.min_inliers,
                       iterations=args.iterations, subpixel=not args.no_subpixel, background=tuple(args.background),
                       backend=args.backend, render_scale=args.render_scale)  # fmt: skip
    bad_lines: list[PoseFileError] = []
    dist = init_distributed(args.device)  # rank 0 of 1 unless started by torchrun
    device = dist.device(args.device)
    try:
        frames = load_dataset(args.data, args.split)
        coarse = read_poses(args.poses, on_error=bad_lines.append)
        queries, missing = build_queries(frames, coarse, args.scheme)
        model = load_scene_model(args.model, device)
        options = {"checkpoint": args.matcher_checkpoint} if args.matcher == "mast3r" else {}
        if args.max_size:
            options["max_size"] = args.max_size
        matcher = load_matcher(args.matcher, device, **options)
    except (DatasetError, PoseFileError, UnknownNameError, PlyFormatError, ScaffoldFormatError, MatchError) as e:
        print(f"gscpr refine: error: {e}", file=sys.stderr)
        return 2
    for e in bad_lines if dist.is_main else ():
        print(f"warning: skipped a malformed coarse pose: {e}", file=sys.stderr)
    if missing and dist.is_main:
        print(f"warning: {len(missing)} coarse pose(s) have no image in {args.data} (kept as they are): "
              f"{', '.join(missing[:5])}", file=sys.stderr)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    if dist.is_main:  # what the output depends on; the number of processes is not part of it
        config = {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "_module"},
                  "refine": asdict(cfg)}  # fmt: skip
        (args.out / "config.json").write_text(json.dumps(config, indent=1))
    records = refine_queries(model, queries, matcher, cfg, args.out, args.relative, args.overlays,
                             batch_size=args.batch_size, dist=dist, workers=args.workers)  # fmt: skip
    if dist.is_main:
        print(finish(args.out, queries, records, args.data.name, {n: coarse[n] for n in missing}))
    return 0
