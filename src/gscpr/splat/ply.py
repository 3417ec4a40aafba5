"""Reading the PLY files of 3D Gaussian Splatting scenes into plain arrays: the standard (Inria) layout and the
SuperSplat / PlayCanvas compressed layout, with every property read by its meaning.

Standard layout (the Inria code, gsplat's exporter, nerfstudio, Mip-Splatting): one ``vertex`` element with
``x y z``, optionally ``nx ny nz`` (unused), ``f_dc_0..2`` (SH DC), ``f_rest_0..M`` (higher SH, channel-major: all
of red, then green, then blue), ``opacity`` (logit), ``scale_0..2`` (log standard deviations), ``rot_0..3``
(quaternion w, x, y, z, unnormalised) and, from Mip-Splatting, ``filter_3D`` (the standard deviation of its 3D
smoothing filter). Properties may be stored as float, double or half (``half``/``float16``, which plyfile does not
know; read here by their meaning); an integer type for any of them is refused, naming the property.

Compressed layout (PlayCanvas splat-transform ``write-compressed-ply.ts`` / ``decompress-ply.ts``): an element
``chunk`` (one per 256 Gaussians: float ``min_/max_x y z``, ``min_/max_scale_x y z`` and, optionally,
``min_/max_r g b``), ``vertex`` with uint32 ``packed_position`` (11-10-11 bits, lerped in the chunk box),
``packed_rotation`` (2 bits: index of the largest of rot_0..3, then the other three, 10 bits each, in
``[-1/sqrt 2, 1/sqrt 2]``), ``packed_scale`` (11-10-11, lerped log scales), ``packed_color`` (8 bits each: r, g, b
lerped in the chunk's colour range, or as they are without one, and sigmoid(opacity)), and optionally ``sh`` with
uint8 ``f_rest_*`` (``(byte + 0.5) / 256`` (0 and 255 exact ends) mapped to ``[-4, 4]``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["SH_REST_COUNTS", "PlyFormatError", "apply_3d_filter", "read_ply", "read_scene_ply", "warn_default"]

#: ``f_rest`` properties per SH degree 0..3.
SH_REST_COUNTS = (0, 9, 24, 45)
_SH_C0 = 0.28209479177387814
_CHUNK = 256
_PLY_TYPE = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
             "f2": "half", "f4": "float", "f8": "double"}  # fmt: skip
_HALF = re.compile(rb"^(property\s+)(half|float16|f2)(\s+\S+\s*)$", re.MULTILINE)


class PlyFormatError(ValueError):
    """A scene model file (3DGS PLY, compressed PLY, ``.splat``, ``.spz``) that cannot be read; the message is one
    line naming the file and the problem."""


def warn_default(message: str) -> None:
    import warnings

    warnings.warn(message, stacklevel=3)


Arrays = dict[str, np.ndarray]


def read_ply(path: Path) -> dict[str, np.ndarray]:
    """``{element name: structured array}`` of a PLY file (ASCII or binary), half-float properties included.

    Raises :class:`PlyFormatError` for a file that is not a PLY, a header plyfile cannot parse, or a body shorter
    than the header says (a truncated file)."""
    from plyfile import PlyData

    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if not head.startswith((b"ply\n", b"ply\r")):
        raise PlyFormatError(f"{path}: not a readable PLY file (it does not start with 'ply')")
    end = head.find(b"end_header")
    halves = set() if end < 0 else {m.group(3).strip().decode() for m in _HALF.finditer(head[:end])}
    try:
        if not halves:
            ply = PlyData.read(str(path))
        else:  # plyfile has no half type: read them as 16-bit integers (text: as floats), then view as halves
            binary = b"format ascii" not in head[:end]
            data = Path(path).read_bytes()
            header = _HALF.sub(rb"\1" + (b"ushort" if binary else b"float") + rb"\3", data[:end])
            ply = PlyData.read(io.BytesIO(header + data[end:]))
    except Exception as e:  # plyfile raises several types for corrupt headers and truncated bodies
        what = "truncated" if "end-of-file" in str(e) or "early end" in str(e) else "not a readable PLY file"
        raise PlyFormatError(f"{path}: {what} ({e})") from None
    out = {}
    for el in ply.elements:
        arr = np.asarray(el.data)
        if halves and binary:  # same offsets, the 16-bit integers seen as the halves they hold
            fields = arr.dtype.fields
            formats = [np.dtype("f2").newbyteorder(fields[n][0].byteorder) if n in halves else fields[n][0]
                       for n in arr.dtype.names]  # fmt: skip
            arr = arr.view(np.dtype({"names": list(arr.dtype.names), "formats": formats, "itemsize": arr.itemsize,
                                     "offsets": [fields[n][1] for n in arr.dtype.names]}))  # fmt: skip
        out[el.name] = arr
    return out


def _type_name(dtype: np.dtype) -> str:
    return "list" if dtype.kind == "O" else _PLY_TYPE.get(dtype.str[1:], dtype.str)


def _floats(v: np.ndarray, names: list[str], path: Path) -> np.ndarray:
    """``[N, len(names)]`` float32 columns; any non-float property is refused, all of them named at once."""
    bad = [f"{n} ({_type_name(v.dtype[n])})" for n in names if v.dtype[n].kind != "f"]
    if bad:
        raise PlyFormatError(f"{path}: vertex properties {', '.join(bad)} are not stored as floats; a 3D Gaussian "
                             f"Splatting PLY stores them as float, double or half")  # fmt: skip
    return np.stack([np.asarray(v[n], dtype=np.float32) for n in names], axis=1).reshape(len(v), len(names))


def apply_3d_filter(log_scales: np.ndarray, opacity_logits: np.ndarray, filter_3d: np.ndarray):
    """Mip-Splatting's 3D smoothing filter baked into the Gaussians, as its renderer applies it
    (``GaussianModel.get_scaling_with_3D_filter`` / ``get_opacity_with_3D_filter``): each covariance
    ``Sigma + f^2 I`` (scales ``sqrt(s^2 + f^2)``) and opacity times ``sqrt(det(Sigma) / det(Sigma + f^2 I))``.

    ``log_scales [N, 3]``, ``opacity_logits [N]``, ``filter_3d [N]`` (a standard deviation, world units); returns
    the new ``(log_scales, opacity_logits)`` as float32. Gaussians with a zero filter are left bit-exact."""
    s2 = np.exp(2.0 * log_scales.astype(np.float64))
    f2 = np.square(filter_3d.astype(np.float64))[:, None]
    new_log_scales = 0.5 * np.log(s2 + f2)
    log_coef = 0.5 * (np.log(s2).sum(1) - np.log(s2 + f2).sum(1))  # in logs: det(Sigma) underflows for tiny ones
    o = opacity_logits.astype(np.float64)
    log_p = -np.logaddexp(0.0, -o) + log_coef  # log(sigmoid(o) * coef)
    new_logits = np.clip(log_p - np.log(-np.expm1(np.minimum(log_p, -1e-12))), -100.0, 100.0)
    keep = filter_3d == 0
    return (
        np.where(keep[:, None], log_scales, new_log_scales).astype(np.float32),
        np.where(keep, opacity_logits, new_logits).astype(np.float32),
    )


_KNOWN = re.compile(r"^(x|y|z|nx|ny|nz|opacity|filter_3D|f_dc_\d+|f_rest_\d+|scale_\d+|rot_\d+)$")


def read_scene_ply(path: Path, warn: Callable[[str], None] = warn_default) -> Arrays:
    """The Gaussians of a standard or compressed 3DGS PLY as raw (pre-activation) arrays: ``means [N, 3]``,
    ``quats [N, 4]`` (w, x, y, z), ``log_scales [N, 3]``, ``opacity_logits [N]``, ``sh [N, K, 3]`` (float32).

    A Mip-Splatting ``filter_3D`` is applied (:func:`apply_3d_filter`); properties and elements that are not
    rendered are named once through ``warn``. Raises :class:`PlyFormatError` naming the file and the problem."""
    elements = read_ply(path)
    if "vertex" not in elements:
        raise PlyFormatError(f"{path}: no 'vertex' element; not a 3D Gaussian Splatting PLY")
    v = elements["vertex"]
    names = set(v.dtype.names or ())
    if "chunk" in elements and "packed_position" in names:
        return _read_compressed(path, elements)
    required = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", *[f"scale_{i}" for i in range(3)]]
    required += [f"rot_{i}" for i in range(4)]
    missing = [r for r in required if r not in names]
    if missing:
        raise PlyFormatError(f"{path}: missing vertex properties {missing}; not a 3D Gaussian Splatting PLY")
    n_rest = sum(1 for n in names if n.startswith("f_rest_"))
    k = n_rest // 3 + 1
    if n_rest not in SH_REST_COUNTS or any(f"f_rest_{i}" not in names for i in range(n_rest)):
        raise PlyFormatError(f"{path}: {n_rest} f_rest properties is not a full SH degree (expected 0, 9, 24 or 45)")
    ignored = sorted(n for n in names if not _KNOWN.match(n)) + [f"{e} (element)" for e in elements if e != "vertex"]
    ignored += sorted(n for n in names if re.match(r"^(f_dc|scale|rot)_\d+$", n) and n not in required)
    if ignored:
        warn(f"{path}: ignored what gscpr does not render (the scene may look different elsewhere): "
             f"{', '.join(ignored)}")  # fmt: skip
    filtered = "filter_3D" in names
    cols = _floats(v, [*required, *[f"f_rest_{i}" for i in range(n_rest)], *(["filter_3D"] * filtered)], path)
    n = len(v)
    rest = cols[:, 14 : 14 + n_rest].reshape(n, 3, k - 1).transpose(0, 2, 1)
    out = {
        "means": cols[:, 0:3],
        "sh": np.concatenate([cols[:, None, 3:6], rest], axis=1),
        "opacity_logits": cols[:, 6],
        "log_scales": cols[:, 7:10],
        "quats": cols[:, 10:14],
    }
    if filtered:
        filt = cols[:, -1]
        if not np.isfinite(filt).all():
            raise PlyFormatError(f"{path}: {int((~np.isfinite(filt)).sum())} Gaussian(s) have a non-finite filter_3D")
        out["log_scales"], out["opacity_logits"] = apply_3d_filter(out["log_scales"], out["opacity_logits"], filt)
    return {key: np.ascontiguousarray(a) for key, a in out.items()}


_CHUNK_PROPS = [f"{m}_{a}" for m in ("min", "max") for a in "xyz"] + [f"{m}_scale_{a}" for m in ("min", "max")
                                                                      for a in "xyz"]  # fmt: skip
_COLOR_PROPS = [f"{m}_{c}" for m in ("min", "max") for c in "rgb"]
_PACKED = ["packed_position", "packed_rotation", "packed_scale", "packed_color"]


def _unorm(value: np.ndarray, shift: int, bits: int) -> np.ndarray:
    return ((value >> shift) & ((1 << bits) - 1)).astype(np.float64) / ((1 << bits) - 1)


def _read_compressed(path: Path, elements: dict[str, np.ndarray]) -> Arrays:
    chunk, v = elements["chunk"], elements["vertex"]
    n = len(v)
    cnames, vnames = set(chunk.dtype.names), set(v.dtype.names)
    missing = [p for p in _CHUNK_PROPS if p not in cnames] + [p for p in _PACKED if p not in vnames]
    if missing:
        raise PlyFormatError(f"{path}: compressed PLY without {missing}")
    bad = [f"{p} ({_type_name(v.dtype[p])})" for p in _PACKED if v.dtype[p].str[1:] != "u4"]
    bad += [f"{p} ({_type_name(chunk.dtype[p])})" for p in cnames if chunk.dtype[p].kind != "f"]
    if bad:
        raise PlyFormatError(f"{path}: compressed PLY properties of the wrong type: {', '.join(bad)}")
    if len(chunk) != -(-n // _CHUNK):
        raise PlyFormatError(f"{path}: compressed PLY with {n} vertices needs {-(-n // _CHUNK)} chunks, "
                             f"has {len(chunk)}")  # fmt: skip
    c = {p: np.repeat(np.asarray(chunk[p], np.float64), _CHUNK)[:n] for p in cnames}
    lerp = lambda lo, hi, t: lo * (1 - t) + hi * t  # noqa: E731
    pos, rot, scl, col = (np.asarray(v[p], np.uint32) for p in _PACKED)
    means = np.stack([lerp(c[f"min_{a}"], c[f"max_{a}"], _unorm(pos, s, b)) for a, s, b in
                      (("x", 21, 11), ("y", 11, 10), ("z", 0, 11))], axis=1)  # fmt: skip
    log_scales = np.stack([lerp(c[f"min_scale_{a}"], c[f"max_scale_{a}"], _unorm(scl, s, b)) for a, s, b in
                           (("x", 21, 11), ("y", 11, 10), ("z", 0, 11))], axis=1)  # fmt: skip
    # rotation: the three smaller components in order, scaled to [-1/sqrt2, 1/sqrt2]; the largest is implied
    small = np.stack([(_unorm(rot, s, 10) - 0.5) * np.sqrt(2.0) for s in (20, 10, 0)], axis=1)
    largest = np.sqrt(np.maximum(0.0, 1.0 - (small**2).sum(1)))
    which = (rot >> 30).astype(np.int64)
    quats = np.empty((n, 4))
    for i in range(4):
        others = [j for j in range(4) if j != i]
        m = which == i
        quats[m, i] = largest[m]
        quats[np.ix_(m, others)] = small[m]
    rgb = np.stack([_unorm(col, s, 8) for s in (24, 16, 8)], axis=1)
    if all(p in cnames for p in _COLOR_PROPS):
        rgb = np.stack([lerp(c[f"min_{ch}"], c[f"max_{ch}"], rgb[:, i]) for i, ch in enumerate("rgb")], axis=1)
    alpha = np.clip(_unorm(col, 0, 8), 1e-6, 1 - 1e-6)  # 0 and 255 are the asymptotes of the logit
    sh = [((rgb - 0.5) / _SH_C0)[:, None, :]]
    if "sh" in elements:
        s = elements["sh"]
        n_rest = len(s.dtype.names)
        names = [f"f_rest_{i}" for i in range(n_rest)]
        if n_rest not in SH_REST_COUNTS[1:] or set(names) != set(s.dtype.names) or len(s) != n:
            raise PlyFormatError(f"{path}: compressed PLY 'sh' element with {n_rest} properties and {len(s)} rows "
                                 f"(expected f_rest_0.. 9, 24 or 45 of them and {n} rows)")  # fmt: skip
        if any(s.dtype[p].str[1:] != "u1" for p in names):
            raise PlyFormatError(f"{path}: compressed PLY 'sh' properties must be uchar")
        q = np.stack([np.asarray(s[p], np.float64) for p in names], axis=1)
        unit = np.where(q == 0, 0.0, np.where(q == 255, 1.0, (q + 0.5) / 256))
        sh.append(((unit - 0.5) * 8).reshape(n, 3, n_rest // 3).transpose(0, 2, 1))
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return {"means": f32(means), "quats": f32(quats), "log_scales": f32(log_scales),
            "opacity_logits": f32(np.log(alpha) - np.log1p(-alpha)), "sh": f32(np.concatenate(sh, axis=1))}  # fmt: skip
