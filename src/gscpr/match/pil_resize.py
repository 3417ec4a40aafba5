"""Pillow's ``Image.resize`` of 8-bit images (BICUBIC, LANCZOS) reproduced bit for bit on torch tensors, so that
DUSt3R's input resize (``load_images``: PIL on the 8-bit image) runs on the GPU beside the network instead of a
device-host round trip and PIL on the CPU.

Pillow (``libImaging/Resample.c``) resizes separably, horizontal pass then vertical, each output pixel a weighted
sum of the input pixels under the filter scaled by the reduction: coefficients computed in double precision,
normalised to sum 1, then rounded to fixed point with 22 fractional bits; the sum starts at half an output unit
and is shifted back and clipped to 0-255 after each pass. Every product is below 2^30 and every sum an integer
below 2^53, so the passes here are float64 matrix products that are exact, then the same shift and clip.

Pillow's source does the horizontal pass first; Pillow 13 was found to start with the vertical one when the axes
scale very differently (for example 77x55 to 130x31). Aspect-preserving resizes, the only kind DUSt3R makes, match
Pillow 13 bit for bit (``tests/match/test_pil_resize.py``); others are refused rather than approximated.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["FILTERS", "pil_resize"]

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed point for 8-bit images


def _bicubic(x: float) -> float:
    a, x = -0.5, abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x *= math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    return _sinc(x) * _sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


#: name -> (filter, support in input pixels at scale 1), as Pillow defines them
FILTERS = {"bicubic": (_bicubic, 2.0), "lanczos": (_lanczos, 3.0)}


def _coefficients(in_size: int, out_size: int, name: str) -> np.ndarray:
    """The fixed-point weights ``[out_size, in_size]`` (integers, as float64) of one pass (Pillow's
    ``precompute_coeffs`` and ``normalize_coeffs_8bpc``)."""
    fn, support = FILTERS[name]
    scale = filterscale = in_size / out_size
    filterscale = max(filterscale, 1.0)
    support *= filterscale
    K = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)  # C's (int) truncates toward zero
        xmax = min(int(center + support + 0.5), in_size)
        k = [fn((x - center + 0.5) * ss) for x in range(xmin, xmax)]
        ww = sum(k)  # left to right, as Pillow sums
        if ww != 0.0:
            k = [w / ww for w in k]
        one = float(1 << PRECISION_BITS)
        K[xx, xmin:xmax] = [math.trunc(w * one - 0.5) if w < 0 else math.trunc(w * one + 0.5) for w in k]
    return K


_cache: dict[tuple, Tensor] = {}


def _pass(img: Tensor, out_size: int, name: str, dim: int) -> Tensor:
    """One pass along ``dim`` (-1: columns, -2: rows) of ``img`` float64 with integer values 0-255."""
    in_size = img.shape[dim]
    key = (in_size, out_size, name, img.device)
    if key not in _cache:
        _cache[key] = torch.from_numpy(_coefficients(in_size, out_size, name)).to(img.device)
    K = _cache[key]
    acc = img @ K.T if dim == -1 else K @ img
    return torch.floor((acc + (1 << (PRECISION_BITS - 1))) / (1 << PRECISION_BITS)).clamp_(0, 255)


def pil_resize(image: Tensor, width: int, height: int, resample: str) -> Tensor:
    """``image [C, H, W]`` uint8 resized to ``[C, height, width]`` uint8 on its device, exactly as Pillow's
    ``Image.fromarray(hwc).resize((width, height), Image.LANCZOS | Image.BICUBIC)`` (``resample``: ``"lanczos"``
    or ``"bicubic"``; no ``box``, no ``reducing_gap``), for sizes that keep the aspect ratio (to rounding).
    Raises ``ValueError`` for another filter, dtype or shape, or a change of aspect ratio."""
    if resample not in FILTERS:
        raise ValueError(f"pil_resize: resample must be one of {', '.join(FILTERS)}, got {resample!r}")
    if image.dtype != torch.uint8 or image.ndim != 3:
        raise ValueError(f"pil_resize: expected a [C, H, W] uint8 tensor, got {tuple(image.shape)} {image.dtype}")
    H, W = image.shape[-2:]
    if abs(round(H * width / W) - height) > 1 and abs(round(W * height / H) - width) > 1:
        raise ValueError(f"pil_resize: {W}x{H} to {width}x{height} does not keep the aspect ratio")
    x = image.double()
    if width != image.shape[-1]:  # Pillow skips a pass whose size does not change
        x = _pass(x, width, resample, -1)
    if height != image.shape[-2]:
        x = _pass(x, height, resample, -2)
    return x.to(torch.uint8)
