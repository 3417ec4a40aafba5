"""``gscpr refine``: refine every coarse pose of a query set, resumably, and report.

    gscpr refine --model scene.ply --data datasets/pgt_7scenes_chess --poses coarse.txt --out outputs/chess

Python: :func:`refine` does everything the command does; :func:`refine_queries` refines a list of
:class:`~gscpr.queries.Query` with a model and matcher already loaded (the paper's scripts and ``gscpr bench`` use
it). Writes under ``out``: ``refined_poses.txt`` (``name qw qx qy qz tx ty tz``, w2c; failed queries keep their coarse
pose), ``results.jsonl`` (:mod:`gscpr.records`), ``config.json`` (everything needed to rerun), ``summary.md``
(statuses; the queries whose image could not be used, and why; the pose-file lines skipped, the poses with no image
and the images with no pose, counted and the first few named; a before/after table when ground truth is known),
``inputs.json`` (those input counts and names in full, :class:`PoseInputs`) and optional ``overlays/``. A query that
fails (an image that is not one, a damaged file) is recorded and the run goes on; rerunning the same command skips the
queries already recorded, and redoes those whose coarse pose, image, options, model or render file changed since (each
record's fingerprint, :mod:`gscpr.records`).
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
from .data.images import exif_note, load_rgb
from .distributed import Dist, init_distributed, shard
from .geometry import pose_to_qt
from .match import MATCHERS, MatchError, load_matcher
from .outputs import output_folder, write_json, write_text
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
from .refine import RefineConfig, Refiner, RefineResult, Status, refine_batch, verify
from .text import plural

__all__ = [
    "PoseInputs",
    "RefineRun",
    "check_intrinsics",
    "confidence_identity",
    "query_fingerprint",
    "refine",
    "refine_queries",
    "write_outputs",
]


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


def query_fingerprint(
    q: Query, options: str, model: str | None, renders_again: bool, confidence: str | None = None
) -> dict[str, str]:
    """The fingerprint of a query's record (:data:`gscpr.records.FINGERPRINT_PARTS`, one digest each).

    ``options``, ``model`` and ``confidence`` (:func:`confidence_identity`; None: no verification, no such part)
    are the run's digests, computed once; the model (with the colour transform of
    renders made on the fly) counts only where this query renders: no render on disk, or ``renders_again``
    (further iterations, recovery renders); a run without a model (``model`` None) has one model part whatever
    its queries render. The query image and the render file count by path, size and
    modification time (:func:`gscpr.records.file_identity`): a replaced image redoes its record.
    """
    uses_model = model is not None and (q.render_files is None or renders_again)  # no model: nothing to change
    color = q.render_color.identity if q.render_color is not None else None
    render = [file_identity(f) for f in q.render_files] if q.render_files is not None else "on the fly"
    return {
        "coarse pose": digest(q.coarse),
        "query": digest({"image": file_identity(q.image_path) or str(q.image_path), "camera": q.camera.to_dict()}),
        "options": options,
        "model": digest({"model": model, "color": color}) if uses_model else digest(None),
        "render file": digest(render),
        **({"confidence model": confidence} if confidence is not None else {}),
    }


def confidence_identity(cfg: RefineConfig) -> str | None:
    """The digest of the confidence models' file (``cfg.confidence_model``, default the packaged one) a verifying
    run decides with: a record decided by other models (a refit) is redone. None when verification is off."""
    if not cfg.verify:
        return None
    path = Path(cfg.confidence_model or verify.MODEL_FILE)
    try:
        return digest(path.read_text(encoding="utf-8"))
    except OSError:  # said by the first verification that reads it
        return digest(str(path))


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
    each query in the worker threads. ``load_image(path) -> [H, W, 3]`` reads query images (and renders on disk);
    by default :func:`~gscpr.data.images.load_rgb` composites transparent pixels on ``cfg.background``, the
    background the renders are made on, so that query and render agree. ``on_result(query, result, image)`` is
    called for each query refined now (``image`` None where it could not be read).

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
    confidence = confidence_identity(cfg)
    prints = {q.name: query_fingerprint(q, run_options, run_model, renders_again, confidence) for q in queries}
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
        open_record_log(log_path) as record_log,
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
            if r.status not in (Status.REFINED, Status.BAD_INPUT):  # a turned photo: the likely reason, said
                r.message += exif_note(q.image_path)
            rec = {**result_record(q.name, r), "render": q.render_source(), "fingerprint": prints[q.name]}
            record_log.write(record_line(rec))  # unbuffered: on disk as soon as the query is done
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
        done = check_intrinsics(out_dir, queries, done, cfg, log)
    dist.barrier()  # merged: the next scene starts from one file
    return done


def check_intrinsics(
    out_dir: Path, queries: list[Query], records: dict[str, dict], cfg: RefineConfig, log: Callable | None = None
) -> dict[str, dict]:
    """The run-level check of the intrinsics (:mod:`gscpr.refine.intrinsics`) over every record of the folder,
    camera by camera: where the refined queries' matches ask for another focal length, each of them becomes
    ``unverified`` (the coarse pose kept, or with ``keep_unverified`` the refined pose, flagged; the reason in its
    message and its ``intrinsics_check``) and ``log`` says so once per camera; ``results.jsonl`` is rewritten when
    a record changed. A record demoted by an earlier run of the check is restored first, so that a resumed run
    decides again on all its queries."""
    from .refine.intrinsics import camera_key, focal_check

    changed, names = False, {q.name for q in queries}
    for name, rec in records.items():  # restore what an earlier check demoted (of this run's queries: decided again)
        if name in names and "intrinsics_check" in rec:
            rec.update(rec.pop("intrinsics_check")["before"])
            for k in ("solved_qvec", "solved_tvec"):
                rec.pop(k, None)
            changed = True
    groups: dict[tuple, list[Query]] = {}
    for q in queries:
        rec = records.get(q.name)
        if rec is not None and rec["status"] == Status.REFINED.value:
            groups.setdefault(camera_key(q.camera), []).append(q)
    for group in groups.values():
        check = focal_check([(records[q.name].get("verify") or {}).get("focal_log_ratio") for q in group])
        if not check.suspect:
            continue
        why = f"run check: {check.message()}"
        (log or (lambda m: print(m, file=sys.stderr)))(
            f"{why} ({group[0].camera.width}x{group[0].camera.height}, f {group[0].camera.fx:g} px): "
            f"its {plural(len(group), 'refined query')} are unverified"
            f"{'' if cfg.keep_unverified else ', the coarse poses kept'}")  # fmt: skip
        for q in group:
            rec = records[q.name]
            before = {k: rec[k] for k in ("status", "message", "qvec", "tvec")}
            rec |= {"status": Status.UNVERIFIED.value, "message": "; ".join(m for m in (rec["message"], why) if m),
                    "intrinsics_check": {**check.as_json(), "before": before}}  # fmt: skip
            if not cfg.keep_unverified:
                qv, t = pose_to_qt(q.coarse)
                rec |= {"solved_qvec": rec["qvec"], "solved_tvec": rec["tvec"], "qvec": qv.tolist(), "tvec": t.tolist()}
        changed = True
    if changed:
        write_text(out_dir / "results.jsonl", "".join(record_line(r) for r in records.values()))  # atomic
    return records


def write_outputs(
    out: Path,
    queries: list[Query],
    records: dict[str, dict],
    title: str,
    unrefined: dict | None = None,
    inputs: PoseInputs | None = None,
) -> str:
    """Write ``refined_poses.txt`` (``unrefined`` poses, of names without an image, pass through) and
    ``summary.md`` (statuses, the queries that could not be used and why, what was read of the inputs, before/after
    table where ground truth is known, median stage times); with ``inputs``, also ``inputs.json``
    (:meth:`PoseInputs.as_json`). Returns the summary's text."""
    names = [q.name for q in queries]
    refined = poses_from_records(records, names)
    write_poses(out / "refined_poses.txt", {**refined, **(unrefined or {})})
    statuses = status_counts(records[n] for n in names)
    if unrefined:
        statuses["no_image"] = len(unrefined)
    lines = [f"{plural(len(names), 'query')}: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))]
    bad = [n for n in names if records[n]["status"] == Status.BAD_INPUT.value]
    if bad:  # one line each: the image or render file and what is wrong with it
        lines.append(f"bad input, coarse pose kept ({len(bad)}):\n" + _listing([f"{n}: {records[n]['message']}"
                                                                              for n in bad]))  # fmt: skip
    lines.extend(_confidence_lines(names, records))
    if inputs is not None:
        lines.extend(inputs.summary_lines())
        write_text(out / "inputs.json", json.dumps(inputs.as_json(), indent=1) + "\n")
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
    write_text(out / "summary.md", text + "\n")
    return text


def _confidence_lines(names: list[str], records: dict[str, dict]) -> list[str]:
    """The verification's paragraph of ``summary.md``: the confidences of the refined queries, and each
    ``unverified`` one with its confidence; refined queries with no confidence (verification off, or records of
    an older run kept by a resume) are said to be unverified, as ``gscpr eval`` says."""
    conf = {n: records[n]["confidence"] for n in names if records[n].get("confidence") is not None}
    bare = [n for n in names if records[n]["status"] == Status.REFINED.value and n not in conf]
    note = (f"no confidence recorded for {len(bare)} refined (--no-verify, the paper recipe or an older run): "
            "their pose is unverified")  # fmt: skip
    if not conf:
        return [note] if bare else []
    ok = [c for n, c in conf.items() if records[n]["status"] == Status.REFINED.value]
    lines = ["confidence (the calibrated probability that a pose is within the success threshold): "
             + (f"median {np.median(ok):.2f}, lowest {min(ok):.2f} over the {len(ok)} refined" if ok else
                "no query refined")
             + (f"; {note}" if bare else "")]  # fmt: skip
    unverified = [n for n in names if records[n]["status"] == Status.UNVERIFIED.value]
    if unverified:  # one item per reason: the run check gives a whole camera's queries the same one
        why: dict[str, list[str]] = {}
        for n in unverified:
            why.setdefault(records[n].get("message", ""), []).append(n)
        items = [
            f"{', '.join(ns[:3])}{f' and {len(ns) - 3} more' if len(ns) > 3 else ''}: {m}" for m, ns in why.items()
        ]
        lines.append(f"unverified, the solved pose not trusted ({len(unverified)}):\n" + _listing(items))
    return lines


def _listing(items: list[str], limit: int = 10) -> str:
    """A markdown list of the first ``limit`` items and how many more there are."""
    more = [f"- ... and {len(items) - limit} more"] if len(items) > limit else []
    return "\n".join([f"- {item}" for item in items[:limit]] + more)


@dataclass
class PoseInputs:
    """What was read of a coarse pose file and paired with a query set: the file, how many poses were read, the
    lines skipped (``file:line: problem``), what was said about the file (encoding, mixed formats), the poses
    whose image is not in the query set (kept as they are) and the query set's images that have no pose (not
    refined)."""

    poses_file: str
    read: int
    skipped_lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    poses_without_image: list[str] = field(default_factory=list)
    images_without_pose: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        """Everything, with the counts: ``{"poses_file", "poses_read", "skipped_lines": {"count", "lines"},
        "notes", "poses_without_image": {"count", "names"}, "images_without_pose": {"count", "names"}}``."""
        return {"poses_file": self.poses_file, "poses_read": self.read,
                "skipped_lines": {"count": len(self.skipped_lines), "lines": self.skipped_lines},
                "notes": self.notes,
                "poses_without_image": {"count": len(self.poses_without_image), "names": self.poses_without_image},
                "images_without_pose": {"count": len(self.images_without_pose),
                                        "names": self.images_without_pose}}  # fmt: skip

    def summary_lines(self) -> list[str]:
        """The paragraphs of ``summary.md``: the counts, and the first few of each."""
        counts = [
            f"{len(self.skipped_lines)} line(s) skipped",
            f"{len(self.poses_without_image)} pose(s) with no image (kept as they are)",
            f"{len(self.images_without_pose)} image(s) with no pose (not refined)",
        ]
        lines = [f"coarse poses: {self.read} read from {self.poses_file}; " + ", ".join(counts)]  # fmt: skip
        for title, items in (("skipped lines", self.skipped_lines), ("said of the pose file", self.notes),
                             ("poses with no image", self.poses_without_image),
                             ("images with no pose", self.images_without_pose)):  # fmt: skip
            if items:
                lines.append(f"{title}:\n{_listing(items)}")
        return lines


@dataclass
class RefineRun:
    """What :func:`refine` did: every record by name, the summary's text (empty on ranks other than 0), the coarse
    poses with no image in the dataset (kept as they are), the pose-file lines that were skipped and the images
    of the query set with no pose (not refined); ``inputs`` holds them all (``inputs.json``)."""

    records: dict[str, dict]
    summary: str
    missing: list[str] = field(default_factory=list)
    skipped_lines: list[str] = field(default_factory=list)
    images_without_pose: list[str] = field(default_factory=list)
    inputs: PoseInputs | None = None


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _no_query_message(poses, coarse: dict, data: Path, split: str, frames: list, scheme: str) -> str:
    """Why no coarse pose became a query, with a name from each side to compare."""
    where = f"split {split}" if split else "any split"  # None: every frame --poses names, wherever it is
    images = f"the {plural(len(frames), 'image')} of {data} ({where})"
    if not frames:
        return f"{data} has no images in {where}: nothing to refine"
    if not coarse:
        return f"{poses}: no coarse pose could be read (the skipped lines are listed above)"
    if scheme == "auto":
        scheme = f"auto ({guess_name_scheme([f.name for f in frames])})"
    example = f"e.g. {next(iter(coarse))!r} in {poses}, {frames[0].name!r} in {data}"
    return (f"none of the {plural(len(coarse), 'coarse pose')} in {poses} names one of {images} under the name scheme "
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
    split: str | None = None,
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
    of ``split``; ``"all"``: every frame of every split, see ``gscpr.data.load_dataset``; None: every frame of
    a hold-out format, the test split of the others and, for names not found there, their other splits) and the
    coarse poses (``poses``: a w2c pose file), pair them by name (``scheme``), load the scene model (``model``: a
    path, or a model already loaded) and the matcher, refine every query into ``out`` (resumable; under torchrun
    each rank takes a share) and write the outputs (:func:`write_outputs`).

    ``config`` defaults to the ``recipe`` (default ``gscpr``); where its ``background`` is None, the background
    is the model's (``cfg_args``' ``white_background``, :func:`gscpr.splat.model.scene_background`), else the
    dataset format's (:mod:`gscpr.data.traits`: white for Blender scenes, black otherwise), for the renders and
    the transparent pixels of RGBA queries alike. ``warn`` receives what is worth a word but does not stop the
    run (skipped pose-file lines, poses with no image). Raises ``ValueError`` for a device this machine does
    not have (:func:`gscpr.argtypes.check_device`), ``DatasetError``, ``PoseFileError``, ``UnknownNameError``
    (also when no coarse pose names an image of the query set), the model loaders' format errors or
    ``MatchError`` for input that cannot be used.
    """
    from .data import detect_format, format_traits, load_dataset, load_other_splits
    from .splat.model import load_scene_model, scene_background
    from .splat.scaffold import ScaffoldFormatError

    config = config or get_recipe(recipe or "gscpr")
    device = requested = check_device(device or default_device())
    out, data = Path(out), Path(data)
    bad_lines: list[PoseFileError] = []
    dist = init_distributed(device)  # rank 0 of 1 unless started by torchrun
    device = dist.device(device)
    # The folder is checked writable and locked before any work (rank 0 holds the lock for the whole job).
    with output_folder(out, count=lambda: len(load_records(out)), lock=dist.is_main):
        frames = load_dataset(data, split)
        notes: list[str] = []
        coarse = read_poses(poses, on_error=bad_lines.append, warn=notes.append)
        queries, missing = build_queries(frames, coarse, scheme)
        if missing and split is None and (others := load_other_splits(data)):  # --poses says what is refined
            more, missing = build_queries(others, {n: coarse[n] for n in missing}, scheme)
            queries += more
        if dist.is_main:
            for note in notes:
                warn(note)
            for e in bad_lines:
                warn(f"skipped a malformed coarse pose: {e}")
        if not queries:  # nothing to refine: say why rather than write an empty table
            raise UnknownNameError(_no_query_message(poses, coarse, data, split, frames, scheme))
        paired = {q.image_path for q in queries}
        inputs = PoseInputs(str(poses), len(coarse), [str(e) for e in bad_lines], notes, missing,
                            [f.name for f in frames if f.image_path not in paired])  # fmt: skip
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
        if dist.is_main:
            if missing:
                hint = " (--split all reads every split)" if split not in (None, "all") else ""
                warn(f"{len(missing)} coarse pose(s) have no image in {data}{hint} (kept as they are): "
                     f"{', '.join(missing[:5])}")  # fmt: skip
            if inputs.images_without_pose:
                unposed = inputs.images_without_pose
                warn(f"{len(unposed)} image(s) of {data} have no pose in {poses} (not refined): "
                     f"{', '.join(unposed[:5])}")  # fmt: skip
        if dist.is_main:  # what the output depends on; the number of processes is not part of it
            settings = {"model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
                        "data": str(data), "poses": str(poses), "split": split, "scheme": scheme, "matcher": matcher,
                        "matcher_options": options, "device": requested, "batch_size": batch_size,
                        "overlays": overlays, "recipe": recipe, "refine": asdict(config)}  # fmt: skip
            write_json(out / "config.json", settings)
        model_id = tree_identity(model) if isinstance(model, (str, Path)) else None  # its files' sizes and times
        records = refine_queries(scene_model, queries, match, config, out, overlays, progress=progress,
                                 batch_size=batch_size, dist=dist, workers=workers, model_id=model_id,
                                 options={"matcher": matcher, "matcher_options": matcher_options or {}},
                                 log=warn)  # fmt: skip
        summary = (write_outputs(out, queries, records, data.name, {n: coarse[n] for n in missing}, inputs)
                   if dist.is_main else "")  # fmt: skip
        return RefineRun(records, summary, missing, inputs.skipped_lines, inputs.images_without_pose, inputs)


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
    parser.add_argument("--split", help="the frames of --data that can be queries: train, test, val or all "
                        "(default: every frame --poses names, looked up in the test split first)")  # fmt: skip
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
        print(f"gscpr refine: error: none of the {plural(sum(statuses.values()), 'query')} was refined ({why}); the "
              f"coarse poses are kept in {Path(args.out) / 'refined_poses.txt'}, each query's reason is in "
              f"{Path(args.out) / 'results.jsonl'}", file=sys.stderr)  # fmt: skip
        return 2
    return 0
