"""Sub-pixel refinement of matches between a render and a query by local normalised cross-correlation.

Detectors such as XFeat place keypoints on the pixel grid (or a coarse cell grid), so re-detecting the same
texture in a render that is 0.3 px off gives the *same* integer position in both images and biases the pose
towards the coarse one. Near convergence the render and the query look alike locally, so each query
keypoint can be moved to where a patch of the render around its match fits best: an integer search for the
normalised cross-correlation peak in a small window, then Lucas-Kanade steps on the normalised patches for the
sub-pixel shift. Normalising makes both invariant to affine changes of brightness, so exposure differences do
not move the result. Matches whose peak is weak, flat or on the window's border keep their position.

The alignment has fixed shapes (keypoints padded to a power of two) and never reads the GPU from the host, so
on a GPU it replays as one CUDA graph per image size and padded count (:mod:`gscpr.cudagraph`).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..cudagraph import GraphedFunction
from .base import Matches, to_tensor_image

__all__ = ["refine_subpixel"]


def _grid(r: int, device) -> Tensor:
    """Integer offsets ``[(2r+1)^2, 2]`` of a square window, x fastest."""
    d = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    return torch.stack(torch.meshgrid(d, d, indexing="xy"), dim=-1).reshape(-1, 2)


def _sample(gray: Tensor, pts: Tensor) -> Tensor:
    """Bilinear samples of ``gray [H, W]`` at pixel-index points ``pts [..., 2]``."""
    H, W = gray.shape
    # Scalars, not a small tensor: copying one from the host is not allowed inside a CUDA graph capture.
    grid = torch.stack([(pts[..., 0] + 0.5) * (2.0 / W) - 1.0, (pts[..., 1] + 0.5) * (2.0 / H) - 1.0], dim=-1)
    out = F.grid_sample(gray[None, None], grid.reshape(1, -1, 1, 2), mode="bilinear", padding_mode="border",
                        align_corners=False)  # fmt: skip
    return out.reshape(pts.shape[:-1])


def _normalise(p: Tensor) -> Tensor:
    p = p - p.mean(dim=-1, keepdim=True)
    return p / p.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def _align(
    g0: Tensor, g1: Tensor, k0: Tensor, k1: Tensor, patch: int, search: int, min_ncc: float, lk_steps: int
) -> tuple[Tensor, Tensor]:
    """Refined ``k1 [N, 2]`` and the mask ``[N]`` of keypoints whose alignment is trusted."""
    dev, r = k0.device, patch // 2
    offsets, shifts = _grid(r, dev), _grid(search, dev)  # [P, 2], [S, 2]
    raw = _sample(g0, k0[:, None, :] + offsets)  # [N, P]
    ref = _normalise(raw)
    textured = raw.std(dim=-1) > 1e-3  # flat patches cannot be aligned
    # 1. integer search for the NCC peak
    n = 2 * search + 1
    ncc = (_normalise(_sample(g1, k1[:, None, None, :] + shifts[None, :, None, :] + offsets)) * ref[:, None]).sum(-1)
    peak, best = ncc.max(dim=1)
    bx, by = best % n, best // n
    ok = (peak >= min_ncc) & (bx > 0) & (bx < n - 1) & (by > 0) & (by < n - 1) & textured
    pos = k1 + shifts[best]
    # 2. Gauss-Newton on the shift of the normalised patch. One bilinear sampling per step, on the patch grown by
    # one pixel, gives the patch and its central-difference gradients.
    side = patch + 2
    wide = _grid(r + 1, dev)
    target = ref * (patch * patch - 1) ** 0.5  # ref with unit standard deviation (std's n-1 convention)
    for _ in range(lk_steps):
        s = _sample(g1, pos[:, None, :] + wide).reshape(-1, side, side)
        cur = s[:, 1:-1, 1:-1].reshape(-1, patch * patch)
        sd = cur.std(-1, keepdim=True).clamp_min(1e-6)
        res = (cur - cur.mean(-1, keepdim=True)) / sd - target
        gx = ((s[:, 1:-1, 2:] - s[:, 1:-1, :-2]) * 0.5).reshape_as(cur) / sd
        gy = ((s[:, 2:, 1:-1] - s[:, :-2, 1:-1]) * 0.5).reshape_as(cur) / sd
        # Normal equations of the 2-D shift, solved in closed form (a batched solver would sync with the host).
        a, b, c = (gx * gx).sum(-1) + 1e-6, (gx * gy).sum(-1), (gy * gy).sum(-1) + 1e-6
        rx, ry = (gx * res).sum(-1), (gy * res).sum(-1)
        det = (a * c - b * b).clamp_min(1e-12)
        step = -torch.stack([(c * rx - b * ry) / det, (a * ry - b * rx) / det], dim=-1).clamp(-1.0, 1.0)
        pos = torch.where(ok[:, None], pos + step, pos)
    ok = ok & ((pos - k1).abs().amax(dim=-1) <= search + 0.5)  # a shift that ran away is not trusted
    return pos, ok


_graphs: dict[tuple, GraphedFunction] = {}


def refine_subpixel(
    image0,
    image1,
    matches: Matches,
    patch: int = 11,
    search: int = 3,
    min_ncc: float = 0.8,
    lk_steps: int = 6,
    device: torch.device | str = "cpu",
) -> tuple[Matches, np.ndarray]:
    """Move ``matches.kpts1`` (in ``image1``) to where the ``image0`` patch at ``kpts0`` aligns best.

    An integer NCC search in a ``(2 search + 1)^2`` window finds the peak; Gauss-Newton (Lucas-Kanade on the
    normalised patches, which is free of the pixel-locking of parabola fits) then finds the sub-pixel shift.
    Returns the refined matches and a boolean mask ``[N]`` of the keypoints that moved; matches whose NCC peak
    is weak, on the window's border or in a textureless patch keep their position. Both images are RGB
    ``[H, W, 3]`` (arrays or tensors, uint8 or float); keypoints are in the pixel-index convention.
    """
    N = len(matches)
    if N == 0:
        return matches, np.zeros(0, dtype=bool)
    g0 = to_tensor_image(image0, device).mean(0)
    g1 = to_tensor_image(image1, device).mean(0)
    size = max(64, 1 << (N - 1).bit_length())  # few distinct shapes, hence few graphs
    k = np.zeros((2, size, 2), dtype=np.float32)
    k[0, :N], k[1, :N] = matches.kpts0, matches.kpts1
    k = torch.from_numpy(k).to(device, non_blocking=True)
    key = (patch, search, min_ncc, lk_steps)
    if key not in _graphs:
        _graphs[key] = GraphedFunction(partial(_align, patch=patch, search=search, min_ncc=min_ncc, lk_steps=lk_steps))
    with torch.inference_mode():
        pos, ok = _graphs[key](g0, g1, k[0], k[1])
    out = torch.cat([pos, ok[:, None].float()], dim=1)[:N].cpu().numpy().astype(np.float64)
    ok = out[:, 2] > 0
    refined = np.where(ok[:, None], out[:, :2], matches.kpts1)
    moved = ok & (np.abs(refined - matches.kpts1).max(axis=1) > 1e-3)
    return Matches(matches.kpts0, refined, matches.scores, matches.pairwise), moved
