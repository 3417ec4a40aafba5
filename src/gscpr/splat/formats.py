"""The other splat files: antimatter15's ``.splat`` and Niantic's ``.spz``, read into the raw arrays of
:func:`gscpr.splat.ply.read_scene_ply` (``means``, ``quats`` w x y z, ``log_scales``, ``opacity_logits``, ``sh``).

``.splat`` (antimatter15/splat, ``convert.py``): no header, 32 bytes per Gaussian, little-endian: position
``3 x f32``, scale ``3 x f32`` (linear standard deviations), colour ``4 x u8`` (``255 * (0.5 + C0 * f_dc)`` and
``255 * sigmoid(opacity)``), rotation ``4 x u8`` (``128 + 128 * q / |q|``, w x y z). No higher SH: degree 0.

``.spz`` (nianticlabs/spz, ``load-spz.cc`` and its README): versions 1-3 are one gzip stream holding a 16-byte
header (magic ``NGSP``, version, point count, SH degree, fractional bits, flags, reserved) then the attribute
arrays; version 4 has a 32-byte plain header (+ number of streams and the offset of a table of
``(compressed, uncompressed)`` u64 sizes) and one zstd stream per attribute. Attributes, in order: positions
(24-bit signed fixed point with ``fractionalBits``; version 1: float16), alphas (``u8 = 255 * sigmoid``), colours
(``u8 = 255 * (0.5 + 0.15 * f_dc)``), scales (``u8 = 16 * (log scale + 10)``), rotations (version 2: x y z as
``u8 = 127.5 * (q + 1)`` with w >= 0 implied; version 3+: "smallest three" in a u32: 2 bits for the index of the
largest of x y z w, then 10 bits (sign + 9-bit magnitude in units of 1/sqrt 2 / 511) for each other one, the last
one in the lowest bits), SH (``u8 = 128 + 128 * coefficient``, coefficient-major, channel inner). Coordinates are
read as stored, without the RUB -> RDF conversion the spec makes optional: the spz command-line tools and
PlayCanvas splat-transform write and read PLY data into ``.spz`` unchanged, so a PLY and its ``.spz`` agree.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .ply import PlyFormatError, warn_default

__all__ = ["read_splat", "read_spz"]

_SH_C0 = 0.28209479177387814
_SPZ_COLOR_SCALE = 0.15
SPLAT_RECORD = np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rotation", "u1", 4)])


def _logit(alpha: np.ndarray) -> np.ndarray:
    """Opacity logits of alphas in [0, 1]; 0 and 1 (bytes 0 and 255) kept off the asymptotes."""
    a = np.clip(alpha.astype(np.float64), 1e-6, 1 - 1e-6)
    return np.log(a) - np.log1p(-a)


def _f32(**arrays: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(a, dtype=np.float32) for k, a in arrays.items()}


def read_splat(path: Path) -> dict[str, np.ndarray]:
    """The Gaussians of an antimatter15 ``.splat`` file. Raises :class:`PlyFormatError` when its size is not a
    multiple of the 32-byte record."""
    size = Path(path).stat().st_size
    if size % SPLAT_RECORD.itemsize:
        raise PlyFormatError(f"{path}: not a .splat file (its {size} bytes are not a whole number of 32-byte "
                             f"Gaussians; truncated?)")  # fmt: skip
    rec = np.fromfile(path, dtype=SPLAT_RECORD)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero or negative scale: refused as non-finite
        log_scales = np.log(rec["scale"].astype(np.float64))
    quats = (rec["rotation"].astype(np.float64) - 128.0) / 128.0
    quats[np.linalg.norm(quats, axis=1) == 0] = (1.0, 0.0, 0.0, 0.0)  # an all-128 record: no rotation
    rgb = rec["rgba"][:, :3].astype(np.float64) / 255.0
    return _f32(means=rec["position"], quats=quats, log_scales=log_scales,
                opacity_logits=_logit(rec["rgba"][:, 3] / 255.0), sh=((rgb - 0.5) / _SH_C0)[:, None, :])  # fmt: skip


def _gunzip(path: Path, data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise PlyFormatError(f"{path}: truncated or corrupt .spz (gzip: {e})") from None


def _zstd_streams(path: Path, data: bytes, toc_offset: int, sizes: list[int]) -> list[bytes]:
    import zstandard

    n = len(sizes)
    if toc_offset < 32 or toc_offset + 16 * n > len(data):
        raise PlyFormatError(f"{path}: truncated or corrupt .spz (table of streams past the end of the file)")
    toc = struct.unpack_from(f"<{2 * n}Q", data, toc_offset)
    offset, out = toc_offset + 16 * n, []
    for i, expected in enumerate(sizes):
        packed, unpacked = toc[2 * i], toc[2 * i + 1]
        if unpacked != expected or offset + packed > len(data):
            raise PlyFormatError(f"{path}: truncated or corrupt .spz (stream {i}: {unpacked} bytes, {packed} packed "
                                 f"from byte {offset} of {len(data)}; expected {expected} bytes)")  # fmt: skip
        try:
            raw = zstandard.ZstdDecompressor().decompress(data[offset : offset + packed], max_output_size=expected)
        except zstandard.ZstdError as e:
            raise PlyFormatError(f"{path}: truncated or corrupt .spz (zstd stream {i}: {e})") from None
        if len(raw) != expected:
            raise PlyFormatError(f"{path}: corrupt .spz (stream {i} holds {len(raw)} bytes, expected {expected})")
        out.append(raw)
        offset += packed
    return out


def _quats_smallest_three(packed: np.ndarray) -> np.ndarray:
    """``[N, 4]`` (x, y, z, w) from spz's u32 smallest-three words (``unpackQuaternionSmallestThree``)."""
    comp = packed.astype(np.uint64)
    largest = (comp >> 30).astype(np.int64)
    q = np.zeros((len(comp), 4))
    for i in (3, 2, 1, 0):  # the last component written sits in the lowest bits
        mag = (comp & 511).astype(np.float64) / 511.0 * np.sqrt(0.5)
        sign = np.where((comp >> 9) & 1, -1.0, 1.0)
        take = largest != i
        q[take, i] = (sign * mag)[take]
        comp = np.where(take, comp >> 10, comp)
    rows = np.arange(len(q))
    q[rows, largest] = np.sqrt(np.maximum(0.0, 1.0 - (q**2).sum(1)))
    return q


def read_spz(path: Path, warn: Callable[[str], None] = warn_default) -> dict[str, np.ndarray]:
    """The Gaussians of a Niantic ``.spz`` file (versions 1-4, SH degree 0-3; degree 4 is cut to 3 with a warning).
    Raises :class:`PlyFormatError` naming the file for a bad magic, an unknown version, or a truncated file."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(path, data)
    if len(data) < 16 or data[:4] != b"NGSP":
        raise PlyFormatError(f"{path}: not a .spz file (no 'NGSP' header)")
    version, n, degree, frac_bits, flags = struct.unpack_from("<IIBBB", data, 4)
    if not 1 <= version <= 4:
        raise PlyFormatError(f"{path}: .spz version {version} is not supported (1-4)")
    if degree > 4:
        raise PlyFormatError(f"{path}: .spz SH degree {degree} is not supported (0-4)")
    k = (degree + 1) ** 2 - 1
    rot_bytes = 4 if version >= 3 else 3
    sizes = [n * (6 if version == 1 else 9), n, 3 * n, 3 * n, rot_bytes * n, 3 * k * n]
    if version >= 4:
        if len(data) < 32:
            raise PlyFormatError(f"{path}: truncated .spz (a 32-byte header is needed)")
        (toc_offset,) = struct.unpack_from("<I", data, 16)
        streams = _zstd_streams(path, data, toc_offset, sizes if k else sizes[:5])
    else:
        if len(data) < 16 + sum(sizes):
            raise PlyFormatError(f"{path}: truncated .spz ({len(data)} bytes after gunzip, {n} Gaussians need "
                                 f"{16 + sum(sizes)})")  # fmt: skip
        bounds = np.cumsum([16, *sizes])
        streams = [data[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    pos, alpha, color, scale, rot = (np.frombuffer(s, np.uint8) for s in streams[:5])
    if version == 1:
        means = np.frombuffer(streams[0], "<f2").reshape(n, 3).astype(np.float64)
    else:
        b = pos.reshape(n, 3, 3).astype(np.int32)
        fixed = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
        means = np.where(fixed & 0x800000, fixed - (1 << 24), fixed) / float(1 << frac_bits)
    if version >= 3:
        xyzw = _quats_smallest_three(np.frombuffer(streams[4], "<u4"))
    else:
        xyz = rot.reshape(n, 3) / 127.5 - 1.0
        xyzw = np.concatenate([xyz, np.sqrt(np.maximum(0.0, 1.0 - (xyz**2).sum(1, keepdims=True)))], axis=1)
    dc = (color.reshape(n, 3) / 255.0 - 0.5) / _SPZ_COLOR_SCALE
    rest = (np.frombuffer(streams[5], np.uint8).reshape(n, k, 3) - 128.0) / 128.0 if k else np.zeros((n, 0, 3))
    if degree == 4:
        warn(f"{path}: SH degree 4 cut to degree 3 (gscpr renders SH up to degree 3)")
        rest = rest[:, :15]
    if flags & 0x1:
        warn(f"{path}: trained with antialiasing (Mip-Splatting's 2D filter); rendered without it")
    if flags & 0x2:
        warn(f"{path}: .spz extension records ignored")
    return _f32(means=means, quats=xyzw[:, [3, 0, 1, 2]], log_scales=scale.reshape(n, 3) / 16.0 - 10.0,
                opacity_logits=_logit(alpha / 255.0), sh=np.concatenate([dc[:, None, :], rest], axis=1))  # fmt: skip
