"""Real spherical harmonics up to degree 3, in the basis and sign convention of the Inria 3DGS code and gsplat.

A Gaussian's colour seen from direction ``d`` (unit vector from the camera centre to the Gaussian, world
frame) is ``max(sum_k coeffs[k] * Y_k(d) + 0.5, 0)``; ``coeffs[0]`` is the PLY's ``f_dc`` and
``coeffs[1:]`` its ``f_rest``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["SH_C0", "num_sh_bases", "rgb_to_sh", "sh_bases", "sh_to_color"]

SH_C0 = 0.28209479177387814
_C1 = 0.4886025119029199
_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def num_sh_bases(degree: int) -> int:
    """Number of coefficients per colour channel for SH ``degree`` (1, 4, 9, 16)."""
    if not 0 <= degree <= 3:
        raise ValueError(f"SH degree must be 0..3, got {degree}")
    return (degree + 1) ** 2


def sh_bases(degree: int, dirs: Tensor) -> Tensor:
    """SH basis values ``[..., (degree+1)^2]`` at unit directions ``dirs [..., 3]``."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [
            _C2[0] * xy,
            _C2[1] * yz,
            _C2[2] * (2.0 * zz - xx - yy),
            _C2[3] * xz,
            _C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            _C3[0] * y * (3 * xx - yy),
            _C3[1] * xy * z,
            _C3[2] * y * (4 * zz - xx - yy),
            _C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            _C3[4] * x * (4 * zz - xx - yy),
            _C3[5] * z * (xx - yy),
            _C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


def sh_to_color(degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """Colours ``[..., 3]`` from SH ``coeffs [..., K, 3]`` (``K >= (degree+1)^2``) seen along ``dirs [..., 3]``.

    ``dirs`` need not be normalised. Uses the first ``(degree+1)^2`` coefficients, adds 0.5 and clamps at 0,
    exactly as gsplat's ``rasterization(..., sh_degree=degree)``.
    """
    n = num_sh_bases(degree)
    if coeffs.shape[-2] < n:
        raise ValueError(f"SH degree {degree} needs {n} coefficients per channel, got {coeffs.shape[-2]}")
    dirs = torch.nn.functional.normalize(dirs, dim=-1)
    basis = sh_bases(degree, dirs)  # [..., n]
    return torch.clamp_min((basis[..., None] * coeffs[..., :n, :]).sum(dim=-2) + 0.5, 0.0)


def rgb_to_sh(rgb: Tensor) -> Tensor:
    """DC coefficient giving colour ``rgb`` (in [0, 1]) from every direction."""
    return (rgb - 0.5) / SH_C0
