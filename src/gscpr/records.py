"""The per-query record store of a run: ``results.jsonl``, one JSON object per query, appended as queries finish.

A record is a :class:`~gscpr.refine.RefineResult`'s summary (status, counts, ``confirmed``, timings per stage in
seconds, message) with the query's ``name`` and its pose as ``qvec`` (w, x, y, z) and ``tvec`` (w2c). A killed run
leaves at most a torn last line, which readers skip and writers end; rerunning skips the queries with a record
(resume). Under torchrun each rank appends to ``shards/rank<r>.jsonl`` and rank 0 merges them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import numpy as np

from .geometry import pose_to_qt, qt_to_pose
from .refine.types import STAGES, RefineResult

__all__ = [
    "load_records",
    "merge_records",
    "open_record_log",
    "poses_from_records",
    "read_records",
    "result_record",
    "stage_medians",
    "status_counts",
]


def result_record(name: str, result: RefineResult) -> dict:
    """The JSON record of one query's result."""
    qv, t = pose_to_qt(result.pose)
    return {"name": name, **result.summary(), "qvec": qv.tolist(), "tvec": t.tolist()}


def read_records(path: Path) -> dict[str, dict]:
    """The records of one ``.jsonl`` file by name (a torn last line is skipped; a missing file has none)."""
    done: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[rec["name"]] = rec
    return done


def load_records(out_dir: Path) -> dict[str, dict]:
    """Every record of an output folder: the merged ``results.jsonl`` and the shard files of ranks that have
    not been merged yet (a killed multi-process run)."""
    done = read_records(out_dir / "results.jsonl")
    for f in sorted((out_dir / "shards").glob("rank*.jsonl")):
        done.update(read_records(f))
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


def open_record_log(path: Path) -> IO[str]:
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


def poses_from_records(records: dict[str, dict], names: Iterable[str]) -> dict[str, np.ndarray]:
    """``{name: w2c [4, 4]}`` of the records of ``names`` (names without a record are left out)."""
    return {n: qt_to_pose(records[n]["qvec"], records[n]["tvec"]) for n in names if n in records}


def status_counts(records: Iterable[dict]) -> dict[str, int]:
    """How many records end in each status, by status name (sorted)."""
    return dict(sorted(Counter(r["status"] for r in records).items()))


def stage_medians(records: Iterable[dict]) -> dict[str, float]:
    """Median seconds per query of each refinement stage (:data:`~gscpr.refine.STAGES`), and of their ``total``;
    empty when there are no records."""
    timing = np.array([[r["timings"].get(k, 0.0) for k in STAGES] for r in records])
    if not len(timing):
        return {}
    return {**dict(zip(STAGES, np.median(timing, axis=0).tolist(), strict=True)),
            "total": float(np.median(timing.sum(axis=1)))}  # fmt: skip
