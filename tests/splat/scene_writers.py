"""Test-side writers of the splat file formats, each written from its spec (not from gscpr's readers), so that a
model saved with ``save_ply`` can be converted into every format and read back:

* SuperSplat / PlayCanvas compressed PLY: splat-transform's ``write-compressed-ply.ts`` / ``compressed-chunk.ts``;
* antimatter15 ``.splat``: antimatter15/splat ``convert.py``;
* Niantic ``.spz`` versions 1, 2, 3 (gzip) and 4 (zstd streams): nianticlabs/spz ``load-spz.cc`` (``packGaussians``,
  ``saveSpz``) with its default SH quantisation (5 bits for degree 1, 4 bits above).
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
from plyfile import PlyData, PlyElement

from gscpr.splat import Gaussians

C0 = 0.28209479177387814


def raw(g: Gaussians) -> dict[str, np.ndarray]:
    """float64 numpy copies of the raw parameters (quats w x y z as stored)."""
    g = g.to("cpu")
    return {
        "means": g.means.double().numpy(),
        "quats": g.quats.double().numpy(),
        "log_scales": g.log_scales.double().numpy(),
        "opacity": g.opacity_logits.double().numpy(),
        "sh": g.sh.double().numpy(),
    }


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ----------------------------------------------------------------------------- compressed PLY
def _pack_unorm(v, bits):
    t = (1 << bits) - 1
    return np.clip(np.floor(v * t + 0.5), 0, t).astype(np.uint32)


def _normalize(x, lo, hi):
    span = hi - lo
    out = np.where(span < 1e-5, 0.0, (x - lo) / np.where(span < 1e-5, 1.0, span))
    return np.clip(out, 0.0, 1.0)


def write_compressed_ply(path, g: Gaussians, chunk_colors: bool = True) -> None:
    """Chunks of 256 in file order (splat-transform also sorts them in Morton order: irrelevant to the format)."""
    r = raw(g)
    n = len(r["means"])
    q = r["quats"] / np.linalg.norm(r["quats"], axis=1, keepdims=True)
    rgb = r["sh"][:, 0] * C0 + 0.5
    chunks, packed = [], np.zeros((n, 4), np.uint32)
    for start in range(0, n, 256):
        sl = slice(start, min(n, start + 256))
        p, s, c = r["means"][sl], r["log_scales"][sl], rgb[sl]
        pmin, pmax = p.min(0), p.max(0)
        smin, smax = np.clip(s.min(0), -20, 20), np.clip(s.max(0), -20, 20)
        cmin, cmax = (c.min(0), c.max(0)) if chunk_colors else (np.zeros(3), np.ones(3))
        chunks.append([*pmin, *pmax, *smin, *smax, *cmin, *cmax])
        pn, sn, cn = _normalize(p, pmin, pmax), _normalize(s, smin, smax), _normalize(c, cmin, cmax)
        packed[sl, 0] = _pack_unorm(pn[:, 0], 11) << 21 | _pack_unorm(pn[:, 1], 10) << 11 | _pack_unorm(pn[:, 2], 11)
        packed[sl, 2] = _pack_unorm(sn[:, 0], 11) << 21 | _pack_unorm(sn[:, 1], 10) << 11 | _pack_unorm(sn[:, 2], 11)
        alpha = sigmoid(r["opacity"][sl])
        packed[sl, 3] = (_pack_unorm(cn[:, 0], 8) << 24 | _pack_unorm(cn[:, 1], 8) << 16
                         | _pack_unorm(cn[:, 2], 8) << 8 | _pack_unorm(alpha, 8))  # fmt: skip
        for i in range(sl.start, sl.stop):  # 2 bits: index of the largest; then the other three, 10 bits each
            a = q[i] * (1 if q[i][np.argmax(np.abs(q[i]))] >= 0 else -1)
            largest = int(np.argmax(np.abs(a)))
            word = largest
            for j in range(4):
                if j != largest:
                    word = (word << 10) | int(_pack_unorm(a[j] * np.sqrt(0.5) + 0.5, 10))
            packed[i, 1] = word
    props = [f"{m}_{a}" for m in ("min", "max") for a in "xyz"] + [f"{m}_scale_{a}" for m in ("min", "max")
                                                                  for a in "xyz"]  # fmt: skip
    props += [f"{m}_{c}" for m in ("min", "max") for c in "rgb"] if chunk_colors else []
    chunk = np.array([tuple(row[: len(props)]) for row in chunks], dtype=[(p, "f4") for p in props])
    names = ["packed_position", "packed_rotation", "packed_scale", "packed_color"]
    vertex = np.empty(n, dtype=[(p, "u4") for p in names])
    for i, name in enumerate(names):
        vertex[name] = packed[:, i]
    elements = [PlyElement.describe(chunk, "chunk"), PlyElement.describe(vertex, "vertex")]
    k = r["sh"].shape[1]
    if k > 1:  # channel-major f_rest, as in the standard PLY; 8 bits over [-4, 4]
        rest = r["sh"][:, 1:].transpose(0, 2, 1).reshape(n, 3 * (k - 1))
        qsh = np.clip(np.trunc((rest / 8 + 0.5) * 256), 0, 255).astype(np.uint8)
        sh = np.empty(n, dtype=[(f"f_rest_{i}", "u1") for i in range(3 * (k - 1))])
        for i in range(3 * (k - 1)):
            sh[f"f_rest_{i}"] = qsh[:, i]
        elements.append(PlyElement.describe(sh, "sh"))
    PlyData(elements).write(str(path))


# ----------------------------------------------------------------------------- .splat
def write_splat(path, g: Gaussians) -> None:
    r = raw(g)
    n = len(r["means"])
    rec = np.zeros(n, dtype=[("p", "<f4", 3), ("s", "<f4", 3), ("c", "u1", 4), ("q", "u1", 4)])
    rec["p"] = r["means"]
    rec["s"] = np.exp(r["log_scales"])
    rgba = np.concatenate([0.5 + C0 * r["sh"][:, 0], sigmoid(r["opacity"])[:, None]], axis=1)
    rec["c"] = np.clip(rgba * 255, 0, 255)
    q = r["quats"] / np.linalg.norm(r["quats"], axis=1, keepdims=True)
    rec["q"] = np.clip(q * 128 + 128, 0, 255)
    rec.tofile(path)


# ----------------------------------------------------------------------------- .spz
def _to_u8(x):
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _quantize_sh(x, bits):
    bucket = 1 << (8 - bits)
    q = np.round(x * 128.0).astype(np.int64) + 128
    q = (q + bucket // 2) // bucket * bucket
    return np.clip(q, 0, 255).astype(np.uint8)


def spz_streams(g: Gaussians, version: int) -> tuple[int, list[bytes]]:
    """``(sh degree, [positions, alphas, colours, scales, rotations, sh])`` packed as ``packGaussians`` does."""
    r = raw(g)
    n = len(r["means"])
    fixed = np.round(r["means"] * (1 << 12)).astype(np.int64)
    pos = np.stack([(fixed >> s) & 0xFF for s in (0, 8, 16)], axis=-1).astype(np.uint8)  # [n, 3, 3]
    alphas = _to_u8(sigmoid(r["opacity"]) * 255)
    colors = _to_u8(r["sh"][:, 0] * (0.15 * 255) + 0.5 * 255)
    scales = _to_u8((r["log_scales"] + 10) * 16)
    xyzw = r["quats"][:, [1, 2, 3, 0]] / np.linalg.norm(r["quats"], axis=1, keepdims=True)
    if version >= 3:
        words = np.zeros(n, np.uint32)
        for i, q in enumerate(xyzw):
            largest = int(np.argmax(np.abs(q)))
            negate = q[largest] < 0
            comp = largest
            for j in range(4):
                if j != largest:
                    negbit = int((q[j] < 0) ^ negate)
                    mag = int(511 * (abs(q[j]) / np.sqrt(0.5)) + 0.5)
                    comp = (comp << 10) | (negbit << 9) | mag
            words[i] = comp
        rot = words.astype("<u4").tobytes()
    else:
        q = xyzw * np.where(xyzw[:, 3:] < 0, -127.5, 127.5) + 127.5
        rot = _to_u8(q[:, :3]).tobytes()
    k = r["sh"].shape[1]
    rest = r["sh"][:, 1:]  # [n, k-1, 3]: coefficient-major, channel inner
    sh = np.concatenate([_quantize_sh(rest[:, :3], 5), _quantize_sh(rest[:, 3:], 4)], axis=1) if k > 1 else rest
    if version == 1:  # float16 positions (never released, still read by the reference loader)
        pos = r["means"].astype("<f2")
    streams = [pos.tobytes(), alphas.tobytes(), colors.tobytes(), scales.tobytes(), rot]
    streams += [sh.astype(np.uint8).tobytes()] if k > 1 else []
    return int(np.sqrt(k)) - 1, streams


def write_spz(path, g: Gaussians, version: int = 3, flags: int = 0) -> None:
    degree, streams = spz_streams(g, version)
    n = len(g)
    if version < 4:
        header = struct.pack("<4sIIBBBB", b"NGSP", version, n, degree, 12, flags, 0)
        path.write_bytes(gzip.compress(header + b"".join(streams)))
        return
    import zstandard

    packed = [zstandard.ZstdCompressor(level=3).compress(s) for s in streams]
    header = struct.pack("<4sIIBBBBI12x", b"NGSP", 4, n, degree, 12, flags, len(streams), 32)
    toc = b"".join(struct.pack("<QQ", len(p), len(s)) for p, s in zip(packed, streams, strict=True))
    path.write_bytes(header + toc + b"".join(packed))
