"""``gscpr refine``: refine every coarse pose of a query set, resumably, and report.

    gscpr refine --model scene.ply --data datasets/pgt_7scenes_chess --poses coarse.txt --out outputs/chess

Python: :func:`refine` does everything the command does; :func:`refine_queries` refines a list of
:class:`~gscpr.queries.Query` with a model and matcher already loaded (the paper's scripts and ``gscpr bench``
use it). Writes under ``out``: ``refined_poses.txt`` (``name qw qx qy qz tx ty tz``, w2c; failed queries keep
their coarse pose), ``results.jsonl`` (:mod:`gscpr.records`), ``config.json`` (everything needed to rerun),
``summary.md`` (before/after table when ground truth is known) and optional ``overlays/``. A query that fails
is recorded and the run goes on; rerunning the same command skips the queries already recorded, and redoes
those whose coarse pose, image, options, model or render file changed since (each record's fingerprint,
:mod:`gscpr.records`).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .argtypes import check_device, default_device, device_arg, nonnegative_int, positive_int
from .data.frame import DatasetError
from .data.images import load_rgb
from .distributed import Dist, init_distributed, shard
from .match import MATCHERS, MatchError, load_matcher
from .overlays import draw_overlay, query_file_stem
from .poses import NAME_SCHEMES, PoseFileError, UnknownNameError, guess_name_scheme, read_poses, write_poses
from .queries import Query, build_queries, load_query
from .recipes import add_refine_arguments, config_from_args, get_recipe, relative_solver_for
from .recipes import matcher_options as recipe_matcher_options
from .records import (
    changed_parts,
    digest,
    file_identity,
    load_records,
    merge_records,
    open_record_log,
    poses_from_records,
    record_line,
    result_record,
    resume_message,
    stage_medians,
    status_counts,
    tree_identity,
)
from .refine import RefineConfig, Refiner, RefineResult, Status, refine_batch

__all__ = ["RefineRun", "query_fingerprint", "refine", "refine_queries", "write_outputs"]


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


def _bad_input(q: Query, e: Exception) -> RefineResult:
    return RefineResult.failed(q.coarse, Status.BAD_INPUT, str(e))


def _model_identity(model) -> dict | None:
    """A loaded model's identity when its files are not known: its type and number of primitives."""
    if model is None:
        return None
    return {"type": type(model).__name__, "size": len(model) if hasattr(model, "__len__") else None}


def query_fingerprint(q: Query, options: str, model: str | None, renders_again: bool) -> dict[str, str]:
    """The fingerprint of a query's record (:data:`gscpr.records.FINGERPRINT_PARTS`, one digest each).

    ``options`` and ``model`` are the run's digests, computed once; the model (with the colour transform of
    renders made on the fly) counts only where this query renders: no render on disk, or ``renders_again``
    (further iterations, recovery renders). The render file counts by path, size and modification time.
    """
    uses_model = q.render_files is None or renders_again
    color = q.render_color.identity if q.render_color is not None else None
    render = [file_identity(f) for f in q.render_files] if q.render_files is not None else "on the fly"
    return {
        "coarse pose": digest(q.coarse),
        "query": digest({"image": str(q.image_path), "camera": asdict(q.camera)}),
        "options": options,
        "model": digest({"model": model, "color": color}) if uses_model else digest(None),
        "render file": digest(render),
    }


def refine_queries(
    model,
    queries: list[Query],
    matcher,
    cfg: RefineConfig,
    out_dir: str | Path,
    overlays: int = 0,
    load_image: Callable[[Path], np.ndarray] | None = None,
    progress: bool = True,
    batch_size: int = 1,
    on_result: Callable[[Query, RefineResult, np.ndarray | None], None] | None = None,
    dist: Dist | None = None,
    workers: int = 1,
    options: dict | None = None,
    model_id=None,
    log: Callable[[str], None] | None = None,
) -> dict[str, dict]:
    """Refine ``queries``, appending one record per query to ``out_dir/results.jsonl`` as it goes.

    Queries with a record in the folder are skipped (resume) unless the record's fingerprint differs from the
    current one (:func:`query_fingerprint`): those are redone and ``log`` (default: stderr) is told once how many
    and why. The fingerprint's options are ``cfg``, the matcher's class, name and input size, and ``options``
    (what else the caller knows changes the result, e.g. the matcher's name and options as given); its model is
    ``model_id`` (JSON, e.g. :func:`gscpr.records.tree_identity` of the model's files; default: the loaded
    model's type and size). Each record also says where its render came from (``render``,
    :meth:`~gscpr.queries.Query.render_source`). Query images are read and decoded ahead by a
    thread pool. ``workers > 1`` refines that many queries at once in threads: rendering and matching take
    turns on the device while the others lift and solve. With ``batch_size > 1`` (absolute refinement,
    rendering on the fly) queries of one image size are refined ``batch_size`` at a time by
    :func:`~gscpr.refine.refine_batch`: one render call and one feature-extraction call per batch, the rest of
    each query in the worker threads. ``on_result(query, result, image)`` is called for each query refined now
    (``image`` None where it could not be read).

    Under torchrun (``dist``, :mod:`gscpr.distributed`) each rank refines its share of what is left into
    ``shards/rank<r>.jsonl`` and rank 0 merges the records into ``results.jsonl`` when all are done. Returns
    every record by name (on rank 0, all of them).
    """
    if load_image is None:  # transparent query pixels on the renders' background: one background for both
        from .splat.render import model_background

        bg = cfg.background if cfg.background is not None or model is None else model_background(model)
        load_image = (lambda path: load_rgb(path, background=bg)) if bg is not None else load_rgb
    dist = dist or Dist()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = load_records(out_dir)
    dist.barrier()  # every rank has seen what is done before any rank writes
    # Fingerprints: the run's parts once (no file is read), then a few small digests per query.
    run_options = digest({"refine": asdict(cfg), "options": options or {}, "matcher": [type(matcher).__name__,
                          getattr(matcher, "name", None), getattr(matcher, "max_size", None)]})  # fmt: skip
    run_model = digest(model_id if model_id is not None else _model_identity(model)) if model is not None else None
    renders_again = cfg.iterations > 1 or bool(cfg.recovery)
    prints = {q.name: query_fingerprint(q, run_options, run_model, renders_again) for q in queries}
    todo, reasons, recorded, redone = [], Counter(), 0, 0
    for q in queries:
        if q.name in done:
            recorded += 1
            changed = changed_parts(done[q.name], prints[q.name])
            if changed == []:
                continue
            reasons.update(changed if changed is not None else [None])
            redone += 1
        todo.append(q)
    if redone and dist.is_main:
        (log or (lambda m: print(m, file=sys.stderr)))(resume_message(redone, recorded, reasons))
    if dist.distributed:
        todo = [todo[i] for i in shard([q.camera.width * q.camera.height for q in todo], dist.rank, dist.world_size)]
        log_path = out_dir / "shards" / f"rank{dist.rank}.jsonl"
        overlays = -(-overlays // dist.world_size)  # the overlays are shared out too
    else:
        log_path = out_dir / "results.jsonl"
    batch_size = 1 if cfg.relative else max(1, batch_size)
    refiner = Refiner(model, matcher, cfg, threading.Lock() if workers > 1 else None)
    drawn = len(list((out_dir / "overlays").glob("*.jpg"))) if overlays else 0

    def load(q: Query):
        try:
            return q, *load_query(q, load_image), None
        except (DatasetError, OSError, ValueError) as e:
            return q, None, None, e

    def refine_one(item) -> tuple[Query, RefineResult, np.ndarray | None]:
        q, image, render, error = item
        if error is not None:
            return q, _bad_input(q, error), None
        try:
            renders = render is None or renders_again  # the colour transform is chosen only where it is used
            color = q.render_color.for_image(image) if q.render_color is not None and renders else None
            r = refiner.refine(image, q.camera, q.coarse, render, color=color)
        except (DatasetError, OSError, ValueError, RuntimeError) as e:
            r = _bad_input(q, e)
        return q, r, image

    def refine_chunk(chunk: list) -> list[tuple[Query, RefineResult, np.ndarray | None]]:
        """A batch: queries rendered on the fly are grouped by size for refine_batch, the rest one by one."""
        results, groups = {}, {}
        for item in chunk:
            q, image, render, error = item
            if error is None and render is None and q.render_color is None:  # ACT: one by one
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
        open_record_log(log_path) as log,
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
            rec = {**result_record(q.name, r), "render": q.render_source(), "fingerprint": prints[q.name]}
            log.write(record_line(rec))
            log.flush()
            done[q.name] = rec
            if drawn < overlays and image is not None and r.render_rgb is not None:
                draw_overlay(r.render_rgb, image, r, out_dir / "overlays" / f"{query_file_stem(q.name)}.jpg")
                drawn += 1
            if on_result is not None:
                on_result(q, r, image)
            bar.update(1)
    dist.barrier()  # all shards written
    if dist.is_main:
        done = merge_records(out_dir, [q.name for q in queries])
    dist.barrier()  # merged: the next scene starts from one file
    return done


def write_outputs(
    out: Path, queries: list[Query], records: dict[str, dict], title: str, unrefined: dict | None = None
) -> str:
    """Write ``refined_poses.txt`` (``unrefined`` poses, of names without an image, pass through) and
    ``summary.md`` (statuses, before/after table where ground truth is known, median stage times); return the
    summary's text."""
    names = [q.name for q in queries]
    refined = poses_from_records(records, names)
    write_poses(out / "refined_poses.txt", {**refined, **(unrefined or {})})
    statuses = status_counts(records[n] for n in names)
    if unrefined:
        statuses["no_image"] = len(unrefined)
    lines = [f"{len(names)} queries: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))]
    gt = {q.name: q.gt for q in queries if q.gt is not None}
    if gt:
        from .evaluate import evaluate_scene, format_table

        before = evaluate_scene({q.name: q.coarse for q in queries if q.name in gt}, gt, title, scheme="exact")
        after = evaluate_scene({n: refined[n] for n in gt}, gt, title, scheme="exact")
        lines.append(format_table([before], [after], f"{title}: coarse → refined"))
    medians = stage_medians(records[n] for n in names)
    if medians:
        lines.append("median ms per query: " + ", ".join(f"{k} {1000 * v:.1f}" for k, v in medians.items()
                                                          if k != "total"))  # fmt: skip
    text = "\n\n".join(lines)
    (out / "summary.md").write_text(text + "\n", encoding="utf-8")
    return text


@dataclass
class RefineRun:
    """What :func:`refine` did: every record by name, the summary's text (empty on ranks other than 0), the coarse
    poses with no image in the dataset (kept as they are) and the pose-file lines that were skipped."""

    records: dict[str, dict]
    summary: str
    missing: list[str] = field(default_factory=list)
    skipped_lines: list[str] = field(default_factory=list)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _no_query_message(poses, coarse: dict, data: Path, split: str, frames: list, scheme: str) -> str:
    """Why no coarse pose became a query, with a name from each side to compare."""
    images = f"the {len(frames)} images of {data} (split {split})"
    if not frames:
        return f"{data} has no images in split {split}: nothing to refine"
    if not coarse:
        return f"{poses}: no coarse pose could be read (the skipped lines are listed above)"
    if scheme == "auto":
        scheme = f"auto ({guess_name_scheme([f.name for f in frames])})"
    example = f"e.g. {next(iter(coarse))!r} in {poses}, {frames[0].name!r} in {data}"
    return (f"none of the {len(coarse)} coarse poses in {poses} names one of {images} under the name scheme "
            f"{scheme} ({example}); --scheme chooses how names are matched")  # fmt: skip


def refine(
    model,
    data: str | Path,
    poses: str | Path,
    out: str | Path,
    config: RefineConfig | None = None,
    *,
    matcher: str = "xfeat",
    matcher_options: dict | None = None,
    split: str = "test",
    scheme: str = "auto",
    device: str | None = None,
    overlays: int = 0,
    batch_size: int = 1,
    workers: int = 1,
    recipe: str | None = None,
    progress: bool = True,
    warn: Callable[[str], None] = _warn,
) -> RefineRun:
    """Everything ``gscpr refine`` does: read the query set (``data``: any dataset folder gscpr reads, the frames
    of ``split``) and the coarse poses (``poses``: a w2c pose file), pair them by name (``scheme``), load the
    scene model (``model``: a path, or a model already loaded) and the matcher, refine every query into ``out``
    (resumable; under torchrun each rank takes a share) and write the outputs (:func:`write_outputs`).

    ``config`` defaults to the ``recipe`` (default ``gscpr``); where its ``background`` is None, the background
    is the model's (``cfg_args``' ``white_background``, :func:`gscpr.splat.model.scene_background`), else the
    dataset format's (:mod:`gscpr.data.traits`: white for Blender scenes, black otherwise), for the renders and
    the transparent pixels of RGBA queries alike. ``warn`` receives what is worth a word but does not stop the
    run (skipped pose-file lines, poses with no image). Raises ``ValueError`` for a device this machine does
    not have (:func:`gscpr.argtypes.check_device`), ``DatasetError``, ``PoseFileError``, ``UnknownNameError``
    (also when no coarse pose names an image of the query set), the model loaders' format errors or
    ``MatchError`` for input that cannot be used.
    """
    from .data import detect_format, format_traits, load_dataset
    from .splat.model import load_scene_model, scene_background
    from .splat.scaffold import ScaffoldFormatError

    config = config or get_recipe(recipe or "gscpr")
    device = requested = check_device(device or default_device())
    out, data = Path(out), Path(data)
    bad_lines: list[PoseFileError] = []
    dist = init_distributed(device)  # rank 0 of 1 unless started by torchrun
    device = dist.device(device)
    frames = load_dataset(data, split)
    coarse = read_poses(poses, on_error=bad_lines.append)
    for e in bad_lines if dist.is_main else ():
        warn(f"skipped a malformed coarse pose: {e}")
    queries, missing = build_queries(frames, coarse, scheme)
    if not queries:  # nothing to refine: say why rather than write an empty table
        raise UnknownNameError(_no_query_message(poses, coarse, data, split, frames, scheme))
    quiet = lambda message: None  # noqa: E731  (every rank loads the model; one says what it ignored)
    scene_model = (load_scene_model(model, device, warn=warn if dist.is_main else quiet)
                   if isinstance(model, (str, Path)) else model)  # fmt: skip
    if config.background is None:
        path = model if isinstance(model, (str, Path)) else None
        try:
            background = scene_background(scene_model, path)
        except ScaffoldFormatError as e:
            warn(f"{e}: the background is the dataset format's")
            background = None
        background = background or format_traits(detect_format(data, split or "test")).background
        config = replace(config, background=background)
    options = recipe_matcher_options(recipe, matcher, config, matcher_options)  # the recipe's, then the given
    match = load_matcher(matcher, device, **options)
    if dist.is_main and missing:
        warn(f"{len(missing)} coarse pose(s) have no image in {data} (kept as they are): {', '.join(missing[:5])}")
    out.mkdir(parents=True, exist_ok=True)
    if dist.is_main:  # what the output depends on; the number of processes is not part of it
        settings = {"model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
                    "data": str(data), "poses": str(poses), "split": split, "scheme": scheme, "matcher": matcher,
                    "matcher_options": options, "device": requested, "batch_size": batch_size,
                    "overlays": overlays, "recipe": recipe, "refine": asdict(config)}  # fmt: skip
        (out / "config.json").write_text(json.dumps(settings, indent=1))
    model_id = tree_identity(model) if isinstance(model, (str, Path)) else None  # its files' sizes and times
    records = refine_queries(scene_model, queries, match, config, out, overlays, progress=progress,
                             batch_size=batch_size, dist=dist, workers=workers, model_id=model_id,
                             options={"matcher": matcher, "matcher_options": matcher_options or {}},
                             log=warn)  # fmt: skip
    summary = write_outputs(out, queries, records, data.name, {n: coarse[n] for n in missing}) if dist.is_main else ""
    return RefineRun(records, summary, missing, [str(e) for e in bad_lines])


# ----------------------------------------------------------------------------- command line
#: What the exit status of ``gscpr refine`` says (its ``--help`` epilog).
EXIT_STATUS = (
    "exit status: 0 when at least one query was refined (the others keep their coarse pose, each with its reason "
    "in results.jsonl); 2 when an option or input cannot be used, when no coarse pose names an image of --data, "
    "or when no query could be refined (the outputs are written all the same: refined_poses.txt holds the coarse "
    "poses, summary.md and results.jsonl say why)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_STATUS
    parser.add_argument("--model", type=Path, required=True,
                        help="scene file (3DGS PLY, compressed PLY, .splat, .spz) or model folder")  # fmt: skip
    parser.add_argument("--data", type=Path, required=True, help="query dataset folder (any format gscpr reads)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--poses", type=Path, required=True, help="coarse poses (w2c text file)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scheme", default="auto", choices=["auto", *NAME_SCHEMES],
                        help="image-name scheme matching --poses to --data (auto: guessed from its names)")  # fmt: skip
    parser.add_argument("--matcher", default="xfeat", choices=list(MATCHERS))
    parser.add_argument("--matcher-checkpoint", help="MASt3R checkpoint (--matcher mast3r)")
    parser.add_argument("--max-size", type=positive_int, help="matcher input long side (default: the matcher's)")
    parser.add_argument("--overlays", type=nonnegative_int, default=0,
                        help="write match overlays for the first N queries")  # fmt: skip
    parser.add_argument("--batch-size", type=positive_int, default=1,
                        help="refine queries of one image size this many at a time (one render and one feature "
                        "extraction call per batch; absolute refinement rendered on the fly)")  # fmt: skip
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="refine this many queries at once in threads (PnP overlaps the device work)")  # fmt: skip
    parser.add_argument("--device", type=device_arg, default=default_device(),
                        help="cpu, cuda or cuda:N (under torchrun, cuda: each rank's GPU, LOCAL_RANK)")  # fmt: skip
    add_refine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from .splat.gaussians import PlyFormatError
    from .splat.scaffold import ScaffoldFormatError

    options = {"checkpoint": args.matcher_checkpoint} if args.matcher == "mast3r" else {}
    if args.max_size:
        options["max_size"] = args.max_size
    try:
        given = getattr(args, "relative_solver", None)  # the user's wins over the recipe's choice for the matcher
        solver = relative_solver_for(args.recipe, args.matcher) if args.relative and given is None else None
        config = config_from_args(args, relative_solver=solver)
    except ValueError as e:  # options that contradict each other
        print(f"gscpr refine: error: {e}", file=sys.stderr)
        return 2
    try:
        result = refine(args.model, args.data, args.poses, args.out, config, matcher=args.matcher,
                        matcher_options=options, split=args.split, scheme=args.scheme, device=args.device,
                        overlays=args.overlays, batch_size=args.batch_size, workers=args.workers,
                        recipe=args.recipe)  # fmt: skip
    except (DatasetError, PoseFileError, UnknownNameError, PlyFormatError, ScaffoldFormatError, MatchError) as e:
        print(f"gscpr refine: error: {e}", file=sys.stderr)
        return 2
    if not result.summary:  # a rank other than 0: rank 0 reports
        return 0
    print(result.summary)
    statuses = status_counts(result.records.values())
    if not statuses.get(Status.REFINED.value):
        why = ", ".join(f"{k} {v}" for k, v in statuses.items())
        print(f"gscpr refine: error: none of the {sum(statuses.values())} queries was refined ({why}); the coarse "
              f"poses are kept in {Path(args.out) / 'refined_poses.txt'}, each query's reason is in "
              f"{Path(args.out) / 'results.jsonl'}", file=sys.stderr)  # fmt: skip
        return 2
    return 0
