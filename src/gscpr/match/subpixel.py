"""Sub-pixel refinement of matches between a render and a query by local normalised cross-correlation.

Detectors such as XFeat place keypoints on the pixel grid (or a coarse cell grid), so re-detecting the same
texture in a render that is 0.3 px off gives the *same* integer position in both images and biases the pose
towards the coarse one. Near convergence the render and the query look alike locally, so each query
keypoint can be moved to where a patch of the render around its match fits best: an integer search for the
normalised cross-correlation peak in a small window, then Lucas-Kanade steps on the normalised patches for the
sub-pixel shift. Normalising makes both invariant to affine changes of brightness, so exposure differences do
not move the result. Matches whose peak is weak, flat or on the window's border keep their position.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import Matches, to_tensor_image

__all__ = ["refine_subpixel"]


def _sample(gray: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``gray [H, W]`` at pixel-index points ``pts [..., 2]``."""
    H, W = gray.shape
    grid = torch.stack([(pts[..., 0] + 0.5) / W * 2 - 1, (pts[..., 1] + 0.5) / H * 2 - 1], dim=-1)
    flat = grid.reshape(1, -1, 1, 2)
    out = F.grid_sample(gray[None, None], flat, mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(pts.shape[:-1])


def _normalise(p: torch.Tensor) -> torch.Tensor:
    p = p - p.mean(dim=-1, keepdim=True)
    return p / p.norm(dim=-1, keepdim=True).clamp_min(1e-6)


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
    ``[H, W, 3]``; keypoints are in the pixel-index convention.
    """
    if len(matches) == 0:
        return matches, np.zeros(0, dtype=bool)
    g0 = to_tensor_image(image0, device).mean(0)
    g1 = to_tensor_image(image1, device).mean(0)
    r = patch // 2
    d = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    offsets = torch.stack(torch.meshgrid(d, d, indexing="xy"), dim=-1).reshape(-1, 2)  # [P, 2]
    s = torch.arange(-search, search + 1, dtype=torch.float32, device=device)
    shifts = torch.stack(torch.meshgrid(s, s, indexing="xy"), dim=-1).reshape(-1, 2)  # [S, 2], x fastest
    k0 = torch.as_tensor(matches.kpts0, dtype=torch.float32, device=device)
    k1 = torch.as_tensor(matches.kpts1, dtype=torch.float32, device=device)
    raw = _sample(g0, k0[:, None, :] + offsets)  # [N, P]
    ref = _normalise(raw)
    textured = raw.std(dim=-1) > 1e-3  # flat patches cannot be aligned
    # 1. integer search
    n = 2 * search + 1
    cand = k1[:, None, None, :] + shifts[None, :, None, :] + offsets[None, None]  # [N, S, P, 2]
    ncc = (_normalise(_sample(g1, cand)) * ref[:, None, :]).sum(-1)  # [N, S]
    best = ncc.argmax(dim=1)
    peak = ncc.gather(1, best[:, None])[:, 0]
    bx, by = best % n, best // n
    ok = (peak >= min_ncc) & (bx > 0) & (bx < n - 1) & (by > 0) & (by < n - 1) & textured
    pos = k1 + shifts[best]
    # 2. Gauss-Newton on the shift, with central-difference image gradients at the sampled points.
    e = torch.tensor([[0.5, 0.0], [0.0, 0.5]], device=device)
    for _ in range(lk_steps):
        pts = pos[:, None, :] + offsets
        cur = _sample(g1, pts)
        mu, sd = cur.mean(-1, keepdim=True), cur.std(-1, keepdim=True).clamp_min(1e-6)
        res = (cur - mu) / sd - (raw - raw.mean(-1, keepdim=True)) / raw.std(-1, keepdim=True).clamp_min(1e-6)
        gx = (_sample(g1, pts + e[0]) - _sample(g1, pts - e[0])) / sd
        gy = (_sample(g1, pts + e[1]) - _sample(g1, pts - e[1])) / sd
        # Normal equations of the 2-D shift, solved in closed form (a batched solver would sync with the host).
        a, b, c = (gx * gx).sum(-1) + 1e-6, (gx * gy).sum(-1), (gy * gy).sum(-1) + 1e-6
        rx, ry = (gx * res).sum(-1), (gy * res).sum(-1)
        det = (a * c - b * b).clamp_min(1e-12)
        step = -torch.stack([(c * rx - b * ry) / det, (a * ry - b * rx) / det], dim=-1).clamp(-1.0, 1.0)
        pos = torch.where(ok[:, None], pos + step, pos)
        # Stopping early needs the host to read the GPU's result; on a GPU the fixed steps are cheaper.
        if pos.device.type == "cpu" and not bool((step[ok].abs() > 1e-3).any()):
            break
    ok &= (pos - k1).abs().amax(dim=-1) <= search + 0.5  # a shift that ran away is not trusted
    out = torch.where(ok[:, None], pos, k1)
    moved = ok & ((out - k1).abs().amax(dim=-1) > 1e-3)
    return Matches(matches.kpts0, out.double().cpu().numpy(), matches.scores), moved.cpu().numpy()
