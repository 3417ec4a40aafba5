"""The per-query record store of a run: ``results.jsonl``, one JSON object per query, appended as queries finish.

A record is a :class:`~gscpr.refine.RefineResult`'s summary (status, counts, ``confirmed``, timings per stage in
seconds, message) with the query's ``name`` and its pose as ``qvec`` (w, x, y, z) and ``tvec`` (w2c). A killed run
leaves at most a torn last line, which readers skip and writers end; rerunning skips the queries with a record
(resume). Under torchrun each rank appends to ``shards/rank<r>.jsonl`` and rank 0 merges them.

Each record also carries a ``fingerprint``: one short digest per part of what its result depends on
(:data:`FINGERPRINT_PARTS`: the coarse pose, the query's image and camera, the options, the scene model, the
render file). Resume counts a record only when its fingerprint equals the current one (:func:`changed_parts`);
a record written before fingerprints existed counts as changed. The digests are of deterministic JSON
(:func:`digest`); files are identified by path, size and modification time (:func:`file_identity`), never read.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .geometry import pose_to_qt, qt_to_pose
from .outputs import json_safe, naming, write_text
from .refine.types import STAGES, RefineResult, Status
from .text import plural

__all__ = [
    "FINGERPRINT_PARTS",
    "MODEL_FILES",
    "RecordLog",
    "changed_parts",
    "digest",
    "file_identity",
    "json_safe",
    "load_records",
    "merge_records",
    "open_record_log",
    "poses_from_records",
    "read_records",
    "record_line",
    "result_record",
    "resume_message",
    "solved_pose",
    "stage_medians",
    "status_counts",
    "tree_identity",
]


def record_line(record: dict) -> str:
    """One line of a record file: standard JSON (:func:`json_safe`) and a newline."""
    return json.dumps(json_safe(record), allow_nan=False) + "\n"


def result_record(name: str, result: RefineResult) -> dict:
    """The JSON record of one query's result; values with no meaning for it (the reprojection error of a query
    with no inliers) are None, written as null. An ``unverified`` query that kept its coarse pose also carries the
    solver's pose as ``solved_qvec`` / ``solved_tvec`` (:func:`solved_pose`)."""
    qv, t = pose_to_qt(result.pose)
    rec = {"name": name, **result.summary(), "qvec": qv.tolist(), "tvec": t.tolist()}
    if result.solved is not None:
        sq, st = pose_to_qt(result.solved)
        rec |= {"solved_qvec": sq.tolist(), "solved_tvec": st.tolist()}
    return json_safe(rec)


def solved_pose(record: dict) -> np.ndarray | None:
    """The w2c ``[4, 4]`` the solver found for a record's query: ``solved_qvec`` / ``solved_tvec`` where the
    record has them, else its pose when its status is ``refined`` or ``unverified`` (the refined pose kept,
    flagged); None when no pose was solved."""
    if record.get("solved_qvec") is not None:
        return qt_to_pose(record["solved_qvec"], record["solved_tvec"])
    if record.get("status") in (Status.REFINED, Status.UNVERIFIED):
        return qt_to_pose(record["qvec"], record["tvec"])
    return None


def read_records(path: Path) -> dict[str, dict]:
    """The records of one ``.jsonl`` file by name (a torn last line is skipped; a missing file has none). The
    ``NaN`` / ``Infinity`` of files written by older versions are read as None, as null is."""
    done: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "name" in rec:
                done[rec["name"]] = json_safe(rec)
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
    write_text(out_dir / "results.jsonl", "".join(record_line(records[n]) for n in order))  # atomic
    for f in (out_dir / "shards").glob("rank*.jsonl"):
        f.unlink()
    return {n: records[n] for n in order}


class RecordLog:
    """A ``.jsonl`` file opened to append records: each :meth:`write` is one unbuffered write of whole lines
    (nothing is left pending to fail again at close; a record cut by a full disk or a kill is a torn last line,
    which readers skip), and an OS error names the file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with naming(self.path):
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 (closed by close / __exit__)

    def write(self, text: str) -> None:
        data = memoryview(text.encode("utf-8"))
        with naming(self.path):
            while data:
                data = data[self._file.write(data) :]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_record_log(path: Path) -> RecordLog:
    """``path`` opened to append records (:class:`RecordLog`); a torn last line left by a killed run is ended
    first, so that the next record starts on a line of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with naming(path):
        if path.is_file() and path.stat().st_size:
            with open(path, "rb") as f:
                f.seek(-1, 2)
                torn = f.read(1) != b"\n"
            if torn:
                with open(path, "ab") as f:
                    f.write(b"\n")
    return RecordLog(path)


def poses_from_records(records: dict[str, dict], names: Iterable[str]) -> dict[str, np.ndarray]:
    """``{name: w2c [4, 4]}`` of the records of ``names`` (names without a record are left out)."""
    return {n: qt_to_pose(records[n]["qvec"], records[n]["tvec"]) for n in names if n in records}


def status_counts(records: Iterable[dict]) -> dict[str, int]:
    """How many records end in each status, by status name (sorted)."""
    return dict(sorted(Counter(r["status"] for r in records).items()))


def stage_medians(records: Iterable[dict]) -> dict[str, float]:
    """Median seconds per query of each refinement stage (:data:`~gscpr.refine.STAGES`), and of their ``total``;
    empty when there are no records."""
    timing = np.array([[r["timings"].get(k) or 0.0 for k in STAGES] for r in records])
    if not len(timing):
        return {}
    return {**dict(zip(STAGES, np.median(timing, axis=0).tolist(), strict=True)),
            "total": float(np.median(timing.sum(axis=1)))}  # fmt: skip


# ----------------------------------------------------------------------------- fingerprints
#: The parts of a record's fingerprint, in the order the resume message names them: the coarse w2c pose; the
#: query image (path, size, modification time) and camera; the refinement options (the configuration, the
#: matcher and its options); the scene model (and the colour transform of renders made on the fly) where the
#: query renders; the render file; the confidence models a verifying run decides with (their file's content: a
#: refit decides again; absent where verification is off).
FINGERPRINT_PARTS = ("coarse pose", "query", "options", "model", "render file", "confidence model")


def _plain(value):
    """``value`` as plain JSON types: floats rounded to 10 decimals and 12 significant digits (a pose read back
    from a text file and the one written then agree), numpy arrays as nested lists, paths and keys as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (bool, np.bool_)) or value is None:
        return None if value is None else bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(f"{round(float(value), 10) + 0.0:.12g}") if math.isfinite(value) else str(float(value))
    return str(value)


def digest(value) -> str:
    """16 hex digits of the SHA-256 of ``value``'s deterministic JSON (sorted keys, no spaces, floats rounded to
    10 decimals and 12 significant digits): equal for equal values in any process, on any machine."""
    text = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_identity(path: str | Path) -> dict | None:
    """``{"path", "size", "mtime_ns"}`` of a file (its content is not read: cheap on any size), None if it is
    missing."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


#: The files of a model folder that make the model (``gscpr.splat.model``'s layout: ``point_cloud/iteration_<N>/``
#: with the PLY and Scaffold-GS MLPs, ``cfg_args``, ACT / exposure weights), not what else lands there (logs,
#: checkpoints to resume training, refinement outputs).
MODEL_FILES = ("cfg_args", "*.pt", "point_cloud/**/*")


def tree_identity(path: str | Path, patterns: Iterable[str] = MODEL_FILES) -> list[dict]:
    """:func:`file_identity` of a file, or of the files of a folder matching ``patterns`` (sorted by path): the
    identity of a scene model, whichever of its files changes. Empty for a missing path."""
    path = Path(path)
    if not path.is_dir():
        return [i for i in [file_identity(path)] if i is not None]
    files = sorted({f for pattern in patterns for f in path.glob(pattern) if f.is_file()})
    return [i for i in map(file_identity, files) if i is not None]


def changed_parts(record: dict, fingerprint: dict[str, str]) -> list[str] | None:
    """The :data:`FINGERPRINT_PARTS` in which ``record``'s fingerprint differs from ``fingerprint`` (empty: the
    record still holds), or None when the record has no fingerprint (written by an older gscpr)."""
    old = record.get("fingerprint")
    if not isinstance(old, dict):
        return None
    return [p for p in FINGERPRINT_PARTS if old.get(p) != fingerprint.get(p)]


def resume_message(redone: int, recorded: int, reasons: Counter) -> str:
    """``resume: 12 of 40 records redone: coarse pose changed for 3, options changed for 9``; ``reasons`` counts
    the changed parts (a record may count under several) and ``None`` for records without a fingerprint."""
    why = [f"{part} changed for {reasons[part]}" for part in FINGERPRINT_PARTS if reasons.get(part)]
    if reasons.get(None):
        why.append(f"no fingerprint (written by an older gscpr) for {reasons[None]}")
    return f"resume: {redone} of {plural(recorded, 'record')} redone: {', '.join(why)}"
