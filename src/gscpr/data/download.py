"""Resumable HTTP downloads and safe zip extraction, with the standard library only."""

from __future__ import annotations

import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

__all__ = ["ConnectError", "DownloadError", "download", "extract_zip"]

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download or an archive that failed; the message names the URL or file and the problem."""


class ConnectError(DownloadError):
    """The host could not be reached at all (no network, a name that does not resolve, a refused connection)."""


def _remote_size(response) -> int | None:
    length = response.headers.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


def _fetch(url: str, part: Path, progress: bool, timeout: float) -> int | None:
    """Append to ``part`` from where it ends; returns the total size the server announced (or None)."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # nothing left to send: the part file is already complete
            return start
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise ConnectError(f"{url}: cannot connect ({getattr(e, 'reason', e)})") from None
    with response:
        if response.status == 206:
            total = _remote_size(response)
            total = start + total if total is not None else None
            mode = "ab"
        else:  # 200: the server ignored the range, start over
            start, total, mode = 0, _remote_size(response), "wb"
        with (
            open(part, mode) as f,
            tqdm(
                total=total, initial=start, unit="B", unit_scale=True, desc=part.name[:-5], disable=not progress
            ) as bar,
        ):
            try:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, OSError):
                pass  # connection lost: the caller sees a short file and resumes
    return total


def download(
    url: str,
    dest: str | Path,
    expected_size: int | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial download (``dest.part``) with a Range request.

    A complete ``dest`` is kept as is (re-runs download nothing). The size is checked against the server's
    Content-Length and ``expected_size``; a lost connection is resumed up to ``retries`` times. ``dest``
    appears only when complete (atomic rename).
    """
    dest = Path(dest)
    if dest.is_file() and (expected_size is None or dest.stat().st_size == expected_size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    total = None
    for _ in range(retries + 1):
        total = _fetch(url, part, progress, timeout) or total
        size = part.stat().st_size if part.exists() else 0
        if total is not None and size < total:
            continue  # connection lost mid-file: resume
        break
    size = part.stat().st_size if part.exists() else 0
    for what, want in (("server's Content-Length", total), ("expected size", expected_size)):
        if want is not None and size != want:
            raise DownloadError(f"{dest}: downloaded {size} bytes but the {what} is {want} bytes ({url})")
    os.replace(part, dest)
    return dest


def extract_zip(archive: str | Path, dest_dir: str | Path, delete: bool = False) -> list[str]:
    """Extract ``archive`` into ``dest_dir``; refuses members with absolute paths or ``..``.

    A marker file ``.<archive name>.extracted`` makes re-runs skip a finished extraction; with ``delete``
    the archive is removed only after a successful extraction. Returns the member names.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    marker = dest_dir / f".{archive.name}.extracted"
    if marker.is_file():
        names = marker.read_text(encoding="utf-8").splitlines()
        if delete and archive.exists():
            archive.unlink()
        return names
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            for name in names:
                p = PurePosixPath(name)
                # Absolute paths, parent references and Windows drives would write outside dest_dir.
                if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
                    raise DownloadError(f"{archive}: refusing to extract unsafe member name {name!r}")
            dest_dir.mkdir(parents=True, exist_ok=True)
            for info in zf.infolist():
                target = dest_dir / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
    except zipfile.BadZipFile as e:
        raise DownloadError(f"{archive}: not a valid zip archive ({e})") from None
    marker.write_text("\n".join(names), encoding="utf-8")
    if delete:
        archive.unlink()
    return names
