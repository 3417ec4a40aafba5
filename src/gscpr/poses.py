"""Pose files: every format GS-CPR reads or writes, and the image-name schemes that tie them together.

Text formats (one image per line, whitespace separated, poses world-to-camera, quaternion w first):

========  ====================================================  ===============================
format    columns                                               written by
========  ====================================================  ===============================
``qt``    ``name qw qx qy qz tx ty tz``                         marepo, DFNet, refined output
``pgt``   ``name qw qx qy qz tx ty tz f``                       SfM pseudo ground truth
``ace``   ``name qw qx qy qz tx ty tz r_err t_err inliers``     ACE, GLACE (errors in deg / m)
========  ====================================================  ===============================

Also: 4x4 matrix files (``*.pose.txt`` of 7-/12-Scenes, camera-to-world; ACE-layout ``poses/``), and
the Cambridge Landmarks split files (``dataset_{train,test}.txt``: camera centre + w2c quaternion).

Every reader raises :class:`PoseFileError` naming the file and line of anything malformed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geometry import check_pose, make_pose, pose_to_qt, qt_to_pose, qvec_to_rotmat
from .outputs import write_text

__all__ = [
    "NAME_SCHEMES",
    "PoseEntry",
    "PoseFileError",
    "UnknownNameError",
    "align_names",
    "canonical_name",
    "guess_name_scheme",
    "read_cambridge_split",
    "read_matrix_pose",
    "read_pose_file",
    "read_poses",
    "write_matrix_pose",
    "write_poses",
]

PathLike = str | os.PathLike

#: Number of columns of each line format.
FORMAT_COLUMNS = {"qt": 8, "pgt": 9, "ace": 11}


class PoseFileError(ValueError):
    """A pose file that cannot be read; the message names the file and, where known, the line."""

    def __init__(self, path: PathLike, message: str, line: int | None = None):
        self.path, self.line = Path(path), line
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")


class UnknownNameError(KeyError):
    """Image names that cannot be matched between two sources (estimator output vs. dataset)."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the plain message instead
        return str(self.args[0])


@dataclass
class PoseEntry:
    """One line of a pose file. ``pose`` is world-to-camera, 4x4 float64."""

    name: str
    pose: np.ndarray
    focal: float | None = None
    r_err: float | None = None
    t_err: float | None = None
    inliers: int | None = None
    line: int | None = None


# ----------------------------------------------------------------------------- text pose files
def _parse_floats(tokens: list[str], path: PathLike, lineno: int) -> list[float]:
    try:
        values = [float(v) for v in tokens]
    except ValueError as e:
        raise PoseFileError(path, f"not a number ({e})", lineno) from None
    if not all(math.isfinite(v) for v in values):
        raise PoseFileError(path, f"value is NaN or infinite: {' '.join(tokens)}", lineno)
    return values


def _parse_line(path: PathLike, tokens: list[str], lineno: int, ncols: int | None) -> PoseEntry:
    if ncols is None and len(tokens) not in FORMAT_COLUMNS.values():
        raise PoseFileError(
            path,
            f"{len(tokens)} columns; expected 8 (name q t), 9 (name q t f) or 11 (name q t r_err t_err inliers)",
            lineno,
        )
    if ncols is not None and len(tokens) != ncols:
        raise PoseFileError(path, f"{len(tokens)} columns, expected {ncols} like the lines before", lineno)
    values = _parse_floats(tokens[1:], path, lineno)
    q, t = np.array(values[:4]), np.array(values[4:7])
    if np.linalg.norm(q) < 1e-8:
        raise PoseFileError(path, "quaternion has zero length", lineno)
    entry = PoseEntry(tokens[0], qt_to_pose(q, t), line=lineno)
    if len(tokens) == 9:
        entry.focal = values[7]
        if entry.focal <= 0:
            raise PoseFileError(path, f"focal length must be positive, got {entry.focal}", lineno)
    elif len(tokens) == 11:
        entry.r_err, entry.t_err = values[7], values[8]
        if values[9] != int(values[9]):
            raise PoseFileError(path, f"inlier count is not an integer: {tokens[10]}", lineno)
        entry.inliers = int(values[9])
    return entry


def read_pose_file(
    path: PathLike, fmt: str = "auto", on_error: Callable[[PoseFileError], None] | None = None
) -> dict[str, PoseEntry]:
    """Read a text pose file (``qt``, ``pgt`` or ``ace`` format, or ``auto`` from the column count).

    Returns entries keyed by image name, in file order. Empty lines and lines starting with ``#`` are
    skipped. Raises :class:`PoseFileError` for a missing file, a wrong column count, a non-number,
    NaN/inf, a zero quaternion or a duplicate name; with ``on_error``, a bad line is passed to it and
    skipped instead, so that one bad pose does not stop a run over thousands.
    """
    path = Path(path)
    if fmt != "auto" and fmt not in FORMAT_COLUMNS:
        raise ValueError(f"unknown pose format {fmt!r}; expected one of {sorted(FORMAT_COLUMNS)} or 'auto'")
    if not path.is_file():
        raise PoseFileError(path, "no such pose file")
    entries: dict[str, PoseEntry] = {}
    ncols = FORMAT_COLUMNS.get(fmt)
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            tokens = raw.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            try:
                entry = _parse_line(path, tokens, lineno, ncols)
                if entry.name in entries:
                    first = entries[entry.name].line
                    raise PoseFileError(path, f"duplicate image name {entry.name!r} (first on line {first})", lineno)
            except PoseFileError as e:
                if on_error is None:
                    raise
                on_error(e)
                continue
            ncols = ncols or len(tokens)
            entries[entry.name] = entry
    if not entries:
        raise PoseFileError(path, "no poses in file")
    return entries


def read_poses(
    path: PathLike, fmt: str = "auto", on_error: Callable[[PoseFileError], None] | None = None
) -> dict[str, np.ndarray]:
    """Read a text pose file into ``{name: w2c 4x4}``; see :func:`read_pose_file`."""
    return {name: e.pose for name, e in read_pose_file(path, fmt, on_error).items()}


def _fmt(v: float) -> str:
    return repr(float(v))  # shortest round-trip text: files read back to the same doubles


def write_poses(
    path: PathLike,
    poses: Mapping[str, np.ndarray],
    fmt: str = "qt",
    focal: Mapping[str, float] | None = None,
    extras: Mapping[str, tuple[float, float, int]] | None = None,
) -> None:
    """Write ``{name: w2c 4x4}`` as a text pose file, ``qw >= 0``, full double precision.

    ``fmt="pgt"`` needs ``focal``; ``fmt="ace"`` needs ``extras`` ``{name: (r_err, t_err, inliers)}``.
    The file is written to a temporary name and renamed, so a crash never leaves half a file.
    """
    if fmt not in FORMAT_COLUMNS:
        raise ValueError(f"unknown pose format {fmt!r}; expected one of {sorted(FORMAT_COLUMNS)}")
    path = Path(path)
    lines = []
    for name, T in poses.items():
        if any(c.isspace() for c in name) or not name:
            raise ValueError(f"image name {name!r} is empty or contains whitespace; pose files are space separated")
        T = check_pose(T, what=f"pose of {name!r}")
        q, t = pose_to_qt(T)
        cols = [name, *map(_fmt, q), *map(_fmt, t)]
        if fmt == "pgt":
            if focal is None or name not in focal:
                raise ValueError(f"format 'pgt' needs a focal length for {name!r}")
            cols.append(_fmt(focal[name]))
        elif fmt == "ace":
            if extras is None or name not in extras:
                raise ValueError(f"format 'ace' needs (r_err, t_err, inliers) for {name!r}")
            r_err, t_err, inliers = extras[name]
            cols += [_fmt(r_err), _fmt(t_err), str(int(inliers))]
        lines.append(" ".join(cols))
    write_text(path, "".join(line + "\n" for line in lines))  # atomic


# ----------------------------------------------------------------------------- 4x4 matrix files
def read_matrix_pose(path: PathLike) -> np.ndarray:
    """Read a 4x4 rigid transform stored as 4 rows of 4 numbers (7-/12-Scenes ``*.pose.txt``).

    Returns it as stored (camera-to-world in those datasets). Raises :class:`PoseFileError` for a
    wrong shape, NaN/inf (12-Scenes marks lost tracking with ``-inf``) or a non-rigid matrix.
    """
    path = Path(path)
    if not path.is_file():
        raise PoseFileError(path, "no such pose file")
    rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(rows) != 4 or any(len(r) != 4 for r in rows):
        shape = "x".join(str(n) for n in (len(rows), max((len(r) for r in rows), default=0)))
        raise PoseFileError(path, f"expected 4 rows of 4 numbers, got {shape}")
    values = []
    for i, row in enumerate(rows, start=1):
        values.append(_parse_floats(row, path, i))
    M = np.array(values, dtype=np.float64)
    try:
        check_pose(M, what="matrix")
    except ValueError as e:
        raise PoseFileError(path, str(e)) from None
    return M


def write_matrix_pose(path: PathLike, M: np.ndarray) -> None:
    """Write a 4x4 transform as 4 rows of 4 numbers at full double precision."""
    M = np.asarray(M, dtype=np.float64)
    if M.shape != (4, 4):
        raise ValueError(f"expected a 4x4 matrix, got shape {M.shape}")
    write_text(path, "".join(" ".join(_fmt(v) for v in row) + "\n" for row in M))


# ----------------------------------------------------------------------------- Cambridge split files
def read_cambridge_split(path: PathLike) -> dict[str, np.ndarray]:
    """Read a Cambridge Landmarks ``dataset_{train,test}.txt`` into ``{"seqN/frameM.png": w2c 4x4}``.

    The file has three header lines, then ``name X Y Z W P Q R``: the camera centre and the
    world-to-camera rotation as a quaternion, w first.
    """
    path = Path(path)
    if not path.is_file():
        raise PoseFileError(path, "no such split file")
    poses: dict[str, np.ndarray] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) < 3:
        raise PoseFileError(path, "expected 3 header lines before the poses")
    for lineno, raw in enumerate(lines[3:], start=4):
        tokens = raw.split()
        if not tokens:
            continue
        if len(tokens) != 8:
            raise PoseFileError(path, f"{len(tokens)} columns, expected 8 (name X Y Z W P Q R)", lineno)
        values = _parse_floats(tokens[1:], path, lineno)
        q = np.array(values[3:])
        if np.linalg.norm(q) < 1e-8:
            raise PoseFileError(path, "quaternion has zero length", lineno)
        R = qvec_to_rotmat(q)
        poses[tokens[0]] = make_pose(R, -R @ np.array(values[:3]))
    return poses


# ----------------------------------------------------------------------------- image-name schemes
# Each dataset names a query differently in different files. A scheme maps every spelling to one
# canonical name: the file name in the ACE-layout ``rgb/`` folder.
_SCHEME_PATTERNS: dict[str, tuple[re.Pattern, str]] = {
    # seq-03/frame-000000.color.png (pGT, DFNet) | seq-03-frame-000000.color.png (ACE layout, ACE, GLACE)
    "7scenes": (re.compile(r"(?:^|.*/)(seq-\d+)[/-](frame-\d+\.[\w.]+)$"), r"\1-\2"),
    # data/frame-000000.color.jpg (pGT) | frame-000000.color.jpg (ACE layout and estimators)
    "12scenes": (re.compile(r"(?:^|.*/)(frame-\d+\.[\w.]+)$"), r"\1"),
    # seq1/frame00001.png (split files, DFNet) | seq1_frame00001.png (ACE layout, ACE, GLACE)
    "cambridge": (re.compile(r"(?:^|.*/)(seq\d+)[/_](frame\d+\.\w+)$"), r"\1_\2"),
}

#: Known schemes; ``exact`` compares names as they are (after stripping a leading ``./``).
NAME_SCHEMES = (*_SCHEME_PATTERNS, "exact")


def canonical_name(name: str, scheme: str) -> str:
    """The canonical spelling of an image name under a naming scheme.

    >>> canonical_name("seq-03/frame-000000.color.png", "7scenes")
    'seq-03-frame-000000.color.png'
    >>> canonical_name("seq1/frame00001.png", "cambridge")
    'seq1_frame00001.png'
    """
    name = name[2:] if name.startswith("./") else name
    if scheme == "exact":
        return name
    if scheme not in _SCHEME_PATTERNS:
        raise ValueError(f"unknown name scheme {scheme!r}; expected one of {NAME_SCHEMES}")
    pattern, repl = _SCHEME_PATTERNS[scheme]
    m = pattern.match(name)
    if m is None:
        raise UnknownNameError(f"image name {name!r} does not follow the {scheme} naming scheme")
    return m.expand(repl)


def guess_name_scheme(names: Iterable[str]) -> str:
    """The first scheme under which every name parses (``exact`` if none does)."""
    names = list(names)
    for scheme, (pattern, _) in _SCHEME_PATTERNS.items():
        if names and all(pattern.match(n.removeprefix("./")) for n in names):
            return scheme
    return "exact"


def align_names(
    names: Iterable[str], reference: Iterable[str], scheme: str = "auto", allow_missing: bool = True
) -> tuple[dict[str, str], list[str]]:
    """Match ``names`` (e.g. an estimator's output) to ``reference`` names (e.g. the ground truth).

    A name is matched to the reference name spelt the same first (a leading ``./`` aside), else under
    ``scheme``. Returns ``(mapping, missing)``: ``mapping[name] = reference_name`` for every name, and the
    reference names that no name matched. Raises :class:`UnknownNameError` if a name has no
    counterpart in the reference (listing a few), if two names are one image, if a name fits two
    reference images under the scheme, or, with ``allow_missing=False``, if a reference name is left
    unmatched.
    """
    names, reference = list(names), list(reference)
    if scheme == "auto":
        scheme = guess_name_scheme(reference)
    exact = {r.removeprefix("./"): r for r in reference}
    ref_by_key: dict[str, list[str]] = {}
    for r in reference:
        try:
            ref_by_key.setdefault(canonical_name(r, scheme), []).append(r)
        except UnknownNameError:  # outside the scheme: matched by its exact name only
            continue
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    seen: dict[str, str] = {}  # reference name -> the name matched to it
    for n in names:
        ref = exact.get(n.removeprefix("./"))  # the same name first: a scheme is for names spelt differently
        if ref is None:
            try:
                candidates = ref_by_key.get(canonical_name(n, scheme), [])
            except UnknownNameError:
                candidates = []
            if len(candidates) > 1:
                raise UnknownNameError(f"name {n!r} is both reference images {candidates[0]!r} and "
                                       f"{candidates[1]!r} under the {scheme} scheme")  # fmt: skip
            ref = candidates[0] if candidates else None
        if ref is None:
            unknown.append(n)
            continue
        if ref in seen:
            raise UnknownNameError(f"names {seen[ref]!r} and {n!r} are the same image under the {scheme} scheme")
        seen[ref] = n
        mapping[n] = ref
    if unknown:
        examples = ", ".join(repr(u) for u in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise UnknownNameError(
            f"{len(unknown)} image name(s) not found in the reference under the {scheme} scheme: {examples}{more}"
        )
    matched = set(mapping.values())
    missing = [r for r in reference if r not in matched]
    if missing and not allow_missing:
        examples = ", ".join(repr(m) for m in missing[:5])
        raise UnknownNameError(f"{len(missing)} reference image(s) have no pose: {examples}")
    return mapping, missing
