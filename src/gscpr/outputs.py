"""Output folders and files, safely: every command writes through here.

* :func:`atomic_path` (any writer), :func:`write_text`, :func:`write_json`, :func:`write_image`: a file is written
  under a temporary name in its own folder and renamed over the target (``os.replace``, atomic on POSIX), so a
  killed or failed run leaves the old file or the new one, never a torn one (a resumed ``gscpr render`` never
  takes a half-written ``.npy``).
  No ``fsync``: the page cache outlives a killed process; a power cut may still lose the last files.
* :func:`naming`: an OS error raised without a file name (``write`` on a full disk) gets the path it was about;
  ``torch.save``'s ``RuntimeError`` for a failed write becomes such an OS error.
* :func:`output_folder`: the folder is created and checked writable before any work (a read-only folder, or a
  file where the folder should be, is said at once, not after the refining), and locked for the run
  (``fcntl.flock`` on :data:`LOCK_FILE` in it, which holds who has it: pid, host, start time, command). A
  second run on the folder stops at once with :class:`FolderInUseError` naming the holder. The lock goes with
  the process (a killed run never leaves a stale lock); the file stays, empty of meaning once unlocked.
* :func:`run_command`: the top-level handler of every command and paper script: an ``OSError`` becomes one line
  ``error: <path>: <reason>`` and exit status 2, Ctrl-C one line saying how many records the run's output
  folders keep and exit status 130, a CUDA device that is not there one line and exit status 2.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import math
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "LOCK_FILE",
    "FolderInUseError",
    "atomic_path",
    "check_writable",
    "error_line",
    "json_safe",
    "naming",
    "not_there",
    "output_folder",
    "run_command",
    "write_image",
    "write_json",
    "write_text",
]

#: The lock file of an output folder (:func:`output_folder`); its text says who holds the lock.
LOCK_FILE = ".gscpr.lock"

_serial = itertools.count()  # temporary names unique within a process (threads write side by side)


#: How ``torch.save`` (PyTorch's zip writer) says that a write failed: a ``RuntimeError``, not an ``OSError``
#: (``[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598`` on a full disk).
_TORCH_WRITE_FAILED = ("inline_container", "PytorchStreamWriter", "file write failed")


def _torch_write_error(e: RuntimeError, path: Path) -> OSError | None:
    """The ``OSError`` naming ``path`` that ``e`` means when it is torch's failed write (``ENOSPC`` where the
    folder's file system has under 1 MiB left, else ``EIO``), else None."""
    text = str(e)
    if not any(w in text for w in _TORCH_WRITE_FAILED):
        return None
    try:
        full = shutil.disk_usage(path.parent).free < 2**20
    except OSError:
        full = False
    code = errno.ENOSPC if full else errno.EIO
    detail = text.splitlines()[0].split("] ")[-1].strip(" .")
    return OSError(code, f"{os.strerror(code)} (torch: {detail})", str(path))


@contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """Re-raise an ``OSError`` of the block that has no file name (``write`` on a full disk, ``flush``) with
    ``path`` as its file name, so that the one line it becomes names the file; likewise ``torch.save``'s
    ``RuntimeError`` for a failed write (a full disk), which becomes an ``OSError``."""
    try:
        yield
    except OSError as e:
        if e.filename is not None or e.errno is None:
            raise
        raise type(e)(e.errno, e.strerror, str(path)) from e
    except RuntimeError as e:
        os_error = _torch_write_error(e, Path(path))
        if os_error is None:
            raise
        raise os_error from e


def _no_file_in_the_way(folder: Path) -> None:
    """Raise ``NotADirectoryError`` naming the file that stands where ``folder`` or one of its parents should be
    (``mkdir(parents=True)`` would say ``File exists`` of it)."""
    for p in (folder, *folder.parents):  # the first one that exists must be a folder
        if p.exists():
            if not p.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder", str(p))
            return


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same folder and extension, hidden name) for any writer to write
    (``cv2.imwrite``, ``np.save``, ``torch.save``); renamed to ``path`` when the block ends, removed when it
    raises. The folder is created if needed. OS errors name ``path``."""
    path = Path(path)
    _no_file_in_the_way(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The extension is kept: writers choose the format by it (cv2) or append theirs when it is missing (np.save).
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{next(_serial)}.tmp{path.suffix}")
    try:
        with naming(path):
            yield tmp
        try:
            os.replace(tmp, path)
        except OSError as e:  # named after the target (a folder in the way, ...), never the temporary
            raise type(e)(e.errno, e.strerror, str(path)) from None
    except BaseException:  # Ctrl-C too: no temporary file is left behind
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def json_safe(value):
    """``value`` with every NaN or infinite float (also in dicts, lists and numpy scalars) replaced by None, so that
    ``json.dumps(..., allow_nan=False)`` writes standard JSON (RFC 8259 has no NaN or Infinity: ``jq``, browsers
    and most JSON libraries refuse them). Readers take null as "no value" (a reprojection error with no inliers)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def write_json(path: str | Path, value, indent: int | None = 1) -> None:
    """Write ``value`` as standard JSON to ``path`` atomically (:func:`atomic_path`): NaN and infinities become
    ``null`` (:func:`json_safe`; RFC 8259 has neither)."""
    write_text(path, json.dumps(json_safe(value), indent=indent, allow_nan=False))


def write_image(path: str | Path, bgr, params: tuple | list = ()) -> None:
    """Write an 8-bit image (``[H, W, 3]`` BGR or ``[H, W]`` grey, OpenCV's order) atomically with
    ``cv2.imwrite``, the format from ``path``'s extension and ``params`` (e.g. ``[cv2.IMWRITE_JPEG_QUALITY, 95]``).
    Raises ``OSError`` naming ``path`` when OpenCV cannot write it (it returns False rather than raising)."""
    import cv2

    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), bgr, list(params)):
            raise OSError(errno.EIO, "cannot write the image", str(path))


# ----------------------------------------------------------------------------- output folders
class FolderInUseError(OSError):
    """Another run holds the output folder's lock (``errno.EBUSY``; the message names the holder)."""


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` (and its parents) and check that a file can be created in it, before any work is done.

    Raises ``NotADirectoryError`` naming the file that stands where a folder should be, or the ``OSError`` of
    the failed creation (``PermissionError``, read-only file system, full disk) naming the folder."""
    folder = Path(folder)
    _no_file_in_the_way(folder)
    with naming(folder):
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".gscpr-write-test.{os.getpid()}-{next(_serial)}"
        try:
            with open(probe, "wb") as f:
                f.write(b"\0")
        except OSError as e:
            raise type(e)(e.errno, e.strerror, str(folder)) from None
        finally:
            probe.unlink(missing_ok=True)
    return folder


@dataclass
class _Run:
    """An output folder held by this process: what Ctrl-C reports as kept."""

    folder: Path
    count: Callable[[], int] | None
    unit: str


_RUNS: list[_Run] = []


def _holder(lock: Path) -> str:
    """Who holds ``lock``, from its text (written by :func:`output_folder`)."""
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']}, started {info['started']}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that did not say who it is"


@contextmanager
def output_folder(
    folder: str | Path, count: Callable[[], int] | None = None, unit: str = "records", lock: bool = True
) -> Iterator[Path]:
    """The output folder of a run: checked writable (:func:`check_writable`) and locked for the block.

    ``count()`` says how many ``unit`` the folder keeps (for the line Ctrl-C prints, :func:`run_command`).
    ``lock=False`` (ranks other than 0 of one torchrun job, which share rank 0's lock) only checks. Raises
    :class:`FolderInUseError` naming the holder (pid, host, start time, command) when another run holds it."""
    folder = check_writable(folder)
    fd = None
    if lock:
        path = folder / LOCK_FILE
        with naming(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderInUseError(errno.EBUSY, f"in use by another gscpr run ({_holder(path)}); wait for it to "
                                   "end or choose another output folder", str(folder)) from None  # fmt: skip
        except OSError as e:  # a file system without locks (some network and FUSE mounts): run, but say so
            print(f"warning: {folder}: cannot be locked ({e.strerror}): two runs on it would both do the work",
                  file=sys.stderr)  # fmt: skip
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}  # fmt: skip
        with naming(path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
    run, interrupted = _Run(folder, count, unit), False
    _RUNS.append(run)
    try:
        yield folder
    except KeyboardInterrupt:
        interrupted = True  # kept for run_command's line, which counts what the folder keeps
        raise
    finally:
        if not interrupted:
            _RUNS.remove(run)
        if fd is not None:
            os.close(fd)  # releases the lock


# ----------------------------------------------------------------------------- the top-level handler
def not_there(path: str | Path, what: str, folder: bool = False) -> str:
    """Why ``path`` cannot be read as ``what`` (a file, or a folder with ``folder``), in the words of the one line
    that refuses it: ``is a folder, not a <what>``, ``is a file, not a <what>``, ``broken symbolic link to
    <target>``, ``symbolic link loop``, else ``no such <what>``. For a path that is missing or of the wrong kind;
    the caller has checked that (``is_file`` / ``is_dir``)."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        try:
            path.resolve(strict=True)
        except RuntimeError:  # Python < 3.13
            return "symbolic link loop"
        except OSError as e:
            if e.errno == errno.ELOOP:
                return "symbolic link loop"
        return f"broken symbolic link to {os.readlink(path)}"
    if path.is_dir() and not folder:
        return f"is a folder, not a {what}"
    if path.exists() and folder:
        return f"is a file, not a {what}"
    if path.exists():
        return f"is not a regular file, so not a {what}"
    return f"no such {what}"


def error_line(e: OSError) -> str:
    """``<path>: <reason>`` of an OS error (``<path> -> <path2>: <reason>`` for a rename); its text as it is
    when it has no file name."""
    if e.filename is not None and e.strerror:
        where = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else f"{e.filename}"
        return f"{where}: {e.strerror}"
    return e.strerror or str(e)


def _kept() -> str:
    counts = []
    for run in _RUNS:
        try:
            n = run.count() if run.count is not None else None
        except (OSError, ValueError):
            n = None
        counts.append(f"{n} {run.unit} kept in {run.folder}" if n is not None else f"{run.folder} kept")
    return "; ".join(counts) if counts else "nothing written yet"


#: What torch says when the CUDA device asked for is not there.
_NO_DEVICE = ("Torch not compiled with CUDA", "No CUDA GPUs are available", "Found no NVIDIA driver",
              "CUDA driver initialization failed", "invalid device ordinal", "no CUDA-capable device")  # fmt: skip


def _device_missing(e: BaseException) -> str | None:
    """torch's words when ``e`` says the CUDA device asked for is not there, else None."""
    text = str(e)
    return text.splitlines()[0].split(". ")[0].rstrip(".") if any(w in text for w in _NO_DEVICE) else None


def run_command(fn: Callable[[], int | None], prefix: str = "") -> int:
    """``fn()``'s exit status, with what no command lets through as a traceback made one line on stderr
    (``prefix``, e.g. ``"gscpr refine: "``, first): an ``OSError`` (:func:`error_line`, status 2), Ctrl-C
    (``interrupted; 12 records kept in out, resume with the same command``, status 130), and torch's error for a
    CUDA device that is not there (status 2). Other exceptions are bugs and keep their traceback."""
    try:
        return int(fn() or 0)
    except KeyboardInterrupt:
        print(f"{prefix}interrupted; {_kept()}, resume with the same command", file=sys.stderr)
        _RUNS.clear()
        return 130
    except OSError as e:
        print(f"{prefix}error: {error_line(e)}", file=sys.stderr)
        return 2
    except (RuntimeError, AssertionError) as e:
        why = _device_missing(e)
        if why is None:
            raise
        print(f"{prefix}error: --device: no CUDA device here ({why}); use --device cpu", file=sys.stderr)
        return 2
    finally:
        sys.stderr.flush()
