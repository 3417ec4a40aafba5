"""Pose files: every format GS-CPR reads or writes, and the image-name schemes that tie them together.

Text formats (one image per line, poses world-to-camera, quaternion w first; each line's format is the one its
count of numbers gives, fields separated by whitespace or commas, a name may hold spaces: :func:`read_pose_file`):

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

Image names are matched in Unicode NFC form under a naming scheme (:func:`canonical_name`).
"""

from __future__ import annotations

import codecs
import csv
import math
import os
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geometry import check_pose, make_pose, pose_to_qt, qt_to_pose, qvec_to_rotmat
from .outputs import not_there, write_text
from .text import plural

__all__ = [
    "NAME_SCHEMES",
    "NameIndex",
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
    "split_pose_line",
    "write_matrix_pose",
    "write_poses",
]

PathLike = str | os.PathLike

#: Number of columns of each line format.
FORMAT_COLUMNS = {"qt": 8, "pgt": 9, "ace": 11}


class PoseFileError(ValueError):
    """A pose file that cannot be read; the message names the file and, where known, the line."""

    def __init__(self, path: PathLike, message: str, line: int | None = None):
        self.path, self.line, self.reason = Path(path), line, message
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


#: The formats by their count of numbers after the name.
FORMAT_OF_COUNT = {n - 1: fmt for fmt, n in FORMAT_COLUMNS.items()}
_EXPECTED = "expected a name and 7 numbers (qw qx qy qz tx ty tz), 8 (... f) or 10 (... r_err t_err inliers)"


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def split_pose_line(line: str) -> tuple[str, list[str]]:
    """``(name, numbers)`` of a pose-file line: comma separated (CSV, quotes allowed) when the commas give 8 or
    more fields, else whitespace separated with the name everything before the last run of numbers (so a name
    may hold spaces, and a line of numbers only is a numeric name and its numbers). ``("", [])`` for a blank
    line. The numbers are returned as text, unchecked.

    >>> split_pose_line("my photo.jpg 1 0 0 0 0.5 0 2")
    ('my photo.jpg', ['1', '0', '0', '0', '0.5', '0', '2'])
    >>> split_pose_line('"a.jpg", 1, 0, 0, 0, 0.5, 0, 2')
    ('a.jpg', ['1', '0', '0', '0', '0.5', '0', '2'])
    """
    line = line.strip()
    if "," in line:
        fields = [f.strip() for f in next(csv.reader([line], skipinitialspace=True))]
        if len(fields) >= 8:
            return fields[0], fields[1:]
    tokens = line.split()
    if not tokens:
        return "", []
    first = len(tokens)
    while first > 1 and _is_number(tokens[first - 1]):
        first -= 1
    return " ".join(tokens[:first]), tokens[first:]


def _parse_line(path: PathLike, line: str, lineno: int, fmt: str) -> PoseEntry:
    name, numbers = split_pose_line(line)
    if not name:
        raise PoseFileError(path, "no image name before the numbers", lineno)
    count = len(numbers)
    if fmt == "auto":
        if count not in FORMAT_OF_COUNT:
            # A word among the numbers ("1 0 x 0") ends the run of numbers early: name it rather than count.
            words = name.split()
            if len(words) >= 10 and words[0].isdigit() and words[8].isdigit() and all(map(_is_number, words[1:8])):
                raise PoseFileError(path, "a COLMAP images.txt line (IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME), "
                                    "not a pose-file line: write each image as NAME QW QX QY QZ TX TY TZ (the same "
                                    "world-to-camera pose, w first)", lineno)  # fmt: skip
            if any(_is_number(w) for w in words[1:]):  # numbers in the name: a word among the numbers
                raise PoseFileError(path, f"not a number: {words[-1]!r} (name {words[0]!r})", lineno)
            raise PoseFileError(path, f"{count} number(s) after the name {name!r}; {_EXPECTED}", lineno)
        fmt = FORMAT_OF_COUNT[count]
    elif count != FORMAT_COLUMNS[fmt] - 1:
        want = FORMAT_COLUMNS[fmt] - 1
        raise PoseFileError(path, f"{count} number(s) after the name {name!r}, expected {want} ({fmt} format)", lineno)
    values = _parse_floats(numbers, path, lineno)
    q, t = np.array(values[:4]), np.array(values[4:7])
    if np.linalg.norm(q) < 1e-8:
        raise PoseFileError(path, "quaternion has zero length", lineno)
    entry = PoseEntry(name, qt_to_pose(q, t), line=lineno)
    if fmt == "pgt":
        entry.focal = values[7]
        if entry.focal <= 0:
            raise PoseFileError(path, f"focal length must be positive, got {entry.focal}", lineno)
    elif fmt == "ace":
        entry.r_err, entry.t_err = values[7], values[8]
        if values[9] != int(values[9]):
            raise PoseFileError(path, f"inlier count is not an integer: {numbers[9]}", lineno)
        entry.inliers = int(values[9])
    return entry


def _decode_lines(path: Path, warn: Callable[[str], None]) -> list[str]:
    """The file's lines as text: UTF-8 (a byte-order mark dropped), UTF-16 with its byte-order mark, and lines
    that are not UTF-8 decoded as Windows-1252 (Latin-1 where that has no character), which ``warn`` is told."""
    data = path.read_bytes()
    if b"\0" in data and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise PoseFileError(path, "not a text file (NUL bytes: binary, or UTF-16 without a byte-order mark)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").splitlines()
        except UnicodeDecodeError as e:
            raise PoseFileError(path, f"not UTF-16 text despite its byte-order mark ({e.reason})") from None
    lines, fallback = [], []
    for lineno, raw in enumerate(data.removeprefix(codecs.BOM_UTF8).splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            try:
                lines.append(raw.decode("cp1252"))
            except UnicodeDecodeError:
                lines.append(raw.decode("latin-1"))
            fallback.append(lineno)
    if fallback:
        where = ", ".join(map(str, fallback[:5])) + (f" and {len(fallback) - 5} more" if len(fallback) > 5 else "")
        warn(f"{path}: line(s) {where} not UTF-8; read as Windows-1252 (Latin-1)")
    return lines


_HEADER_FIELDS = {"qw", "qx", "qy", "qz", "tx", "ty", "tz"}


def _is_header(line: str) -> bool:
    """A column header on the first line (``name,qw,qx,qy,qz,tx,ty,tz`` as a spreadsheet writes it): no
    numbers, and fields naming the quaternion or translation."""
    fields = [f.strip("[]()\"' ").lower() for f in re.split(r"[\s,;]+", line.strip())]
    return not any(map(_is_number, fields)) and len(set(fields) & _HEADER_FIELDS) >= 3


def read_pose_file(
    path: PathLike,
    fmt: str = "auto",
    on_error: Callable[[PoseFileError], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, PoseEntry]:
    """Read a text pose file (``qt``, ``pgt`` or ``ace`` format; ``auto``: each line by its count of numbers).

    Returns entries keyed by image name, in file order. Each line is read on its own: its format is the one its
    count of numbers after the name gives (7 ``qt``, 8 ``pgt``, 10 ``ace``), so a stray value on one line never
    changes how the others are read; ``fmt`` other than ``auto`` requires that format on every line. Fields are
    separated by whitespace or by commas (CSV, :func:`split_pose_line`); a name may contain spaces (it is
    everything before the numbers). Empty lines, lines starting with ``#`` and a column header on the first
    line are skipped. Text is UTF-8 (a byte-order mark dropped) or UTF-16 with its byte-order mark; a line that
    is not UTF-8 is read as Windows-1252 and ``warn`` is told (default: :func:`warnings.warn`), as it is of a
    file that mixes formats. Names are compared in Unicode NFC form, as :func:`canonical_name` matches them.

    Raises :class:`PoseFileError` for a missing or unreadable file, a wrong count of numbers, a non-number,
    NaN/inf, a zero quaternion, a non-positive focal, a non-integer inlier count or a duplicate name; with
    ``on_error``, a bad line is passed to it and skipped instead, so that one bad pose does not stop a run over
    thousands. A file with no pose at all is an error either way.
    """
    path = Path(path)
    warn = warn or (lambda message: warnings.warn(message, stacklevel=2))
    if fmt != "auto" and fmt not in FORMAT_COLUMNS:
        raise ValueError(f"unknown pose format {fmt!r}; expected one of {sorted(FORMAT_COLUMNS)} or 'auto'")
    if not path.is_file():
        raise PoseFileError(path, not_there(path, "pose file"))
    try:
        lines = _decode_lines(path, warn)
    except OSError as e:
        raise PoseFileError(path, f"cannot read ({e.strerror or e})") from None
    entries: dict[str, PoseEntry] = {}
    first_line: dict[str, int] = {}  # NFC name -> line
    formats: dict[int, list[int]] = {}  # count of numbers -> lines
    seen_content, skipped, first_error = False, 0, None
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if not seen_content:
            seen_content = True
            if _is_header(raw):
                continue
        try:
            entry = _parse_line(path, raw, lineno, fmt)
            key = unicodedata.normalize("NFC", entry.name)
            if key in first_line:
                raise PoseFileError(path, f"duplicate image name {entry.name!r} (first on line {first_line[key]})",
                                    lineno)  # fmt: skip
        except PoseFileError as e:
            if on_error is None:
                raise
            on_error(e)
            skipped += 1
            first_error = first_error or e
            continue
        first_line[key] = lineno
        entries[entry.name] = entry
        formats.setdefault(_count(entry), []).append(lineno)
    if not entries:  # the first bad line's reason too: the callers that report each one never get to
        why = f" (every line malformed: {skipped}; line {first_error.line}: {first_error.reason})" if skipped else ""
        raise PoseFileError(path, "no poses in file" + why)
    if len(formats) > 1:
        main = max(formats, key=lambda n: len(formats[n]))
        others = "; ".join(f"{len(ls)} {FORMAT_OF_COUNT[n]} (line {', '.join(map(str, ls[:3]))}"
                           f"{' ...' if len(ls) > 3 else ''})" for n, ls in formats.items() if n != main)  # fmt: skip
        warn(f"{path}: lines of several formats, each read as its count of numbers says: "
             f"{len(formats[main])} {FORMAT_OF_COUNT[main]}; {others}")  # fmt: skip
    return entries


def _count(entry: PoseEntry) -> int:
    """How many numbers the entry's line had (its format)."""
    return 10 if entry.inliers is not None else 8 if entry.focal is not None else 7


def read_poses(
    path: PathLike,
    fmt: str = "auto",
    on_error: Callable[[PoseFileError], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """Read a text pose file into ``{name: w2c 4x4}``; see :func:`read_pose_file`."""
    return {name: e.pose for name, e in read_pose_file(path, fmt, on_error, warn).items()}


def _fmt(v: float) -> str:
    return repr(float(v))  # shortest round-trip text: files read back to the same doubles


def write_poses(
    path: PathLike,
    poses: Mapping[str, np.ndarray],
    fmt: str = "qt",
    focal: Mapping[str, float] | None = None,
    extras: Mapping[str, tuple[float, float, int]] | None = None,
) -> None:
    """Write ``{name: w2c 4x4}`` as a text pose file, ``qw >= 0``, full double precision, space separated. A name
    may hold single spaces (:func:`read_pose_file` reads it back); a name that would not read back is refused
    with ``ValueError`` before anything is written.

    ``fmt="pgt"`` needs ``focal``; ``fmt="ace"`` needs ``extras`` ``{name: (r_err, t_err, inliers)}``.
    The file is written to a temporary name and renamed, so a crash never leaves half a file.
    """
    if fmt not in FORMAT_COLUMNS:
        raise ValueError(f"unknown pose format {fmt!r}; expected one of {sorted(FORMAT_COLUMNS)}")
    path = Path(path)
    lines = []
    for name, T in poses.items():
        if not name or name.startswith("#") or split_pose_line(f"{name} 1 0 0 0 0 0 0")[0] != name:
            raise ValueError(f"image name {name!r} would not read back from a pose file: empty, a leading '#', a "
                             "tab or line break, leading, trailing or repeated spaces, or a number after its last "
                             "space")  # fmt: skip
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
def _read_text(path: Path) -> str:
    """A dataset's own text file as UTF-8 (a byte-order mark dropped); PoseFileError if it is not text."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PoseFileError(path, f"not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})") from None
    except OSError as e:
        raise PoseFileError(path, f"cannot read ({e.strerror or e})") from None


def read_matrix_pose(path: PathLike) -> np.ndarray:
    """Read a 4x4 rigid transform stored as 4 rows of 4 numbers (7-/12-Scenes ``*.pose.txt``).

    Returns it as stored (camera-to-world in those datasets). Raises :class:`PoseFileError` for a
    wrong shape, NaN/inf (12-Scenes marks lost tracking with ``-inf``) or a non-rigid matrix.
    """
    path = Path(path)
    if not path.is_file():
        raise PoseFileError(path, not_there(path, "pose file"))
    rows = [line.split() for line in _read_text(path).splitlines() if line.strip()]
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
        raise PoseFileError(path, not_there(path, "split file"))
    poses: dict[str, np.ndarray] = {}
    lines = _read_text(path).splitlines()
    if len(lines) < 3:
        raise PoseFileError(path, "expected 3 header lines before the poses")
    for lineno, raw in enumerate(lines[3:], start=4):
        tokens = raw.split()
        if not tokens:
            continue
        if len(tokens) != 8:
            raise PoseFileError(path, f"{plural(len(tokens), 'column')}, expected 8 (name X Y Z W P Q R)", lineno)
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
    """The canonical spelling of an image name under a naming scheme, in Unicode NFC form (so that a name
    decomposed as macOS writes file names matches the same name composed).

    >>> canonical_name("seq-03/frame-000000.color.png", "7scenes")
    'seq-03-frame-000000.color.png'
    >>> canonical_name("seq1/frame00001.png", "cambridge")
    'seq1_frame00001.png'
    """
    name = unicodedata.normalize("NFC", name)  # macOS writes file names decomposed (NFD)
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


class NameIndex:
    """Reference image names indexed for matching other names to them: the name spelt the same first (a leading
    ``./`` aside), else the names it is under ``scheme`` (:func:`canonical_name`; a reference name outside the
    scheme is matched by its exact spelling only)."""

    def __init__(self, reference: Iterable[str], scheme: str):
        self.scheme = scheme
        self.exact: dict[str, str] = {}
        self.by_key: dict[str, list[str]] = {}
        for r in reference:
            self.exact[r.removeprefix("./")] = r
            try:
                self.by_key.setdefault(canonical_name(r, scheme), []).append(r)
            except UnknownNameError:
                continue

    def candidates(self, name: str) -> list[str]:
        """The reference names ``name`` may be: ``[the same name]``, else those it is under the scheme (none, one,
        or several: ambiguous, for the caller to refuse)."""
        same = self.exact.get(name.removeprefix("./"))  # the same name first: a scheme is for names spelt differently
        if same is not None:
            return [same]
        try:
            return self.by_key.get(canonical_name(name, self.scheme), [])
        except UnknownNameError:
            return []


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
    index = NameIndex(reference, scheme)
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    seen: dict[str, str] = {}  # reference name -> the name matched to it
    for n in names:
        candidates = index.candidates(n)
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
