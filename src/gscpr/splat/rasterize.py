"""A pure-PyTorch 3D Gaussian rasterizer: the CPU reference for gsplat's ``rasterization``.

It follows gsplat 1.5 step by step, so that the two backends are interchangeable:

* projection with the EWA Jacobian of the pinhole camera, the camera-space position clamped to 1.3x the
  field of view before the Jacobian is formed (as gsplat and the Inria code do);
* a low-pass filter: ``eps2d`` (0.3 px^2) added to every 2D covariance;
* Gaussians with opacity below 1/255, behind the near plane, or whose opacity-aware 3-sigma box misses
  the image are culled;
* front-to-back compositing in depth order per pixel: ``alpha = min(alpha_cap, o * exp(-0.5 d^T Sigma^-1 d))``
  (``alpha_cap`` 0.999 as gsplat's kernel; 0.99 is the Inria rasterizer's, which GS-CPR renders with),
  contributions with ``alpha < 1/255`` skipped, and a pixel stops before the Gaussian that would bring its
  transmittance to ``1e-4`` or below;
* Gaussians at view depth ``<= near_plane`` are dropped (the Inria rasterizer's test; gsplat drops ``< near``);
* pixel ``(i, j)`` is sampled at ``(i + 0.5, j + 0.5)``: ``Ks`` are in the *continuous* convention
  (see ``gscpr.camera``), exactly what gsplat expects.

The work is split into 16x16 pixel tiles and, within a tile, into chunks of Gaussians, so memory stays
bounded (``chunk`` Gaussians x 256 pixels per step). Everything is differentiable through autograd.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from .sh import sh_to_color

__all__ = ["ALPHA_THRESHOLD", "RenderMode", "quat_scale_to_covar", "rasterize_reference"]

ALPHA_THRESHOLD = 1.0 / 255.0
T_THRESHOLD = 1e-4
MAX_ALPHA = 0.999

RenderMode = Literal["RGB", "D", "ED", "RGB+D", "RGB+ED"]


def quat_scale_to_covar(quats: Tensor, scales: Tensor) -> Tensor:
    """3D covariances ``[N, 3, 3] = (R S)(R S)^T`` from quaternions ``[N, 4]`` (wxyz) and scales ``[N, 3]``."""
    w, x, y, z = torch.nn.functional.normalize(quats, dim=-1).unbind(-1)
    R = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(quats.shape[:-1] + (3, 3))  # fmt: skip
    M = R * scales[..., None, :]
    return M @ M.transpose(-1, -2)


def _project(
    means: Tensor, covars: Tensor, viewmat: Tensor, K: Tensor, width: int, height: int, eps2d: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Per-Gaussian 2D means ``[N, 2]``, conics ``[N, 3]`` (a, b, c of the inverse covariance), depths ``[N]``,
    axis-aligned 2D standard deviations ``[N, 2]`` and the 2D covariance determinants ``[N]``."""
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    p = means @ R.T + t
    cov_c = R @ covars @ R.T
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    tx, ty, tz = p.unbind(-1)
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    # Clamp the point used in the Jacobian to 1.3x the field of view: far off-screen splats otherwise blow up.
    lim_xp, lim_xn = (width - cx) / fx + 0.3 * tan_fovx, cx / fx + 0.3 * tan_fovx
    lim_yp, lim_yn = (height - cy) / fy + 0.3 * tan_fovy, cy / fy + 0.3 * tan_fovy
    safe_z = torch.where(tz.abs() > 1e-12, tz, torch.full_like(tz, 1e-12))
    jx = safe_z * torch.clamp(tx / safe_z, -lim_xn, lim_xp)
    jy = safe_z * torch.clamp(ty / safe_z, -lim_yn, lim_yp)
    zeros = torch.zeros_like(tz)
    J = torch.stack(
        [fx / safe_z, zeros, -fx * jx / safe_z**2, zeros, fy / safe_z, -fy * jy / safe_z**2], dim=-1
    ).reshape(-1, 2, 3)
    cov2d = J @ cov_c @ J.transpose(-1, -2)
    cov2d = cov2d + eps2d * torch.eye(2, dtype=cov2d.dtype, device=cov2d.device)
    a, b, c = cov2d[:, 0, 0], 0.5 * (cov2d[:, 0, 1] + cov2d[:, 1, 0]), cov2d[:, 1, 1]
    det = a * c - b * b
    safe_det = torch.where(det > 0, det, torch.ones_like(det))
    conics = torch.stack([c / safe_det, -b / safe_det, a / safe_det], dim=-1)
    means2d = torch.stack([fx * tx / safe_z + cx, fy * ty / safe_z + cy], dim=-1)
    std2d = torch.stack([a.clamp_min(0).sqrt(), c.clamp_min(0).sqrt()], dim=-1)
    return means2d, conics, tz, std2d, det


def _composite_tile(
    pix: Tensor, means2d: Tensor, conics: Tensor, opacities: Tensor, feats: Tensor, chunk: int, alpha_cap: float
) -> tuple[Tensor, Tensor]:
    """Composite depth-sorted Gaussians over pixel centres ``pix [P, 2]``: features ``[P, D]`` and final T ``[P]``."""
    P = pix.shape[0]
    out = feats.new_zeros((P, feats.shape[1]))
    T = feats.new_ones(P)
    done = torch.zeros(P, dtype=torch.bool, device=pix.device)
    for start in range(0, means2d.shape[0], chunk):
        sl = slice(start, start + chunk)
        d = pix[:, None, :] - means2d[None, sl]  # [P, k, 2]
        cn = conics[sl]
        sigma = 0.5 * (cn[:, 0] * d[..., 0] ** 2 + cn[:, 2] * d[..., 1] ** 2) + cn[:, 1] * d[..., 0] * d[..., 1]
        alpha = torch.clamp_max(opacities[sl] * torch.exp(-sigma), alpha_cap)
        alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_THRESHOLD), alpha, torch.zeros_like(alpha))
        T_incl = T[:, None] * torch.cumprod(1.0 - alpha, dim=1)  # transmittance after each Gaussian
        # A pixel stops *before* the Gaussian that would bring T to <= 1e-4. T only decreases, so the kept
        # Gaussians form a prefix and the last kept one holds the pixel's new T.
        keep = (T_incl > T_THRESHOLD) & ~done[:, None]
        T_excl = torch.cat([T[:, None], T_incl[:, :-1]], dim=1)
        out = out + torch.where(keep, alpha * T_excl, torch.zeros_like(alpha)) @ feats[sl]
        n_kept = keep.sum(dim=1)
        last = T_incl.gather(1, (n_kept - 1).clamp_min(0)[:, None]).squeeze(1)
        T = torch.where(n_kept > 0, last, T)
        done = done | (n_kept < alpha.shape[1])
        if bool(done.all()):
            break
    return out, T


def rasterize_reference(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    alpha_cap: float = MAX_ALPHA,
    eps2d: float = 0.3,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,
    render_mode: RenderMode = "RGB",
    tile_size: int = 16,
    chunk: int = 256,
) -> tuple[Tensor, Tensor, dict]:
    """Render Gaussians into ``C`` cameras; the same arguments and outputs as ``gsplat.rasterization``.

    Args:
        means: ``[N, 3]`` world positions.
        quats: ``[N, 4]`` rotations (w, x, y, z), not necessarily normalised.
        scales: ``[N, 3]`` standard deviations along the local axes (activated, not log).
        opacities: ``[N]`` in [0, 1] (activated, not logits).
        colors: ``[N, D]`` or per camera ``[C, N, D]`` features; with ``sh_degree``, SH coefficients
            ``[N, K, 3]`` or ``[C, N, K, 3]`` evaluated from each camera centre.
        viewmats: ``[C, 4, 4]`` world-to-camera (OpenCV axes).
        Ks: ``[C, 3, 3]`` intrinsics in the continuous pixel convention (pixel centres at +0.5).
        width, height: image size.
        backgrounds: ``[C, D]`` colours composited behind (the depth channel always gets 0).
        render_mode: ``"RGB"``, ``"D"`` (accumulated z), ``"ED"`` (z normalised by alpha), ``"RGB+D"``, ``"RGB+ED"``.
        near_plane, far_plane: Gaussians at view depth ``<= near_plane`` or ``>= far_plane`` are dropped.
        alpha_cap: the largest alpha one Gaussian contributes to a pixel (gsplat: 0.999; the Inria 3DGS
            rasterizer, GS-CPR's: 0.99).

    Returns:
        ``render_colors [C, H, W, X]`` (X = D, 1 or D + 1 by mode), ``render_alphas [C, H, W, 1]`` and a dict
        with per-camera ``radii [C, N, 2]`` (0 for culled Gaussians), ``means2d [C, N, 2]`` and ``depths [C, N]``,
        and the image ``width`` and ``height`` (as gsplat's).
    """
    C = viewmats.shape[0]
    device, dtype = means.device, means.dtype
    covars = quat_scale_to_covar(quats, scales)
    campos = torch.linalg.inv(viewmats)[:, :3, 3]
    tiles_x, tiles_y = math.ceil(width / tile_size), math.ceil(height / tile_size)
    out_colors, out_alphas, all_radii, all_depths = [], [], [], []
    projected = [_project(means, covars, viewmats[ci], Ks[ci], width, height, eps2d) for ci in range(C)]
    # The returned means2d is the tensor the images are computed from, so that, as with gsplat, its .grad
    # (after retain_grad) holds the view-space gradients densification looks at.
    all_means2d = torch.stack([p[0] for p in projected])
    for ci in range(C):
        _, conics, depths, std2d, det = projected[ci]
        means2d = all_means2d[ci]
        col = colors[ci] if colors.dim() == (4 if sh_degree is not None else 3) else colors
        if sh_degree is not None:
            col = sh_to_color(sh_degree, means - campos[ci], col)
        feats = {"RGB": [col], "D": [depths[:, None]], "ED": [depths[:, None]]}.get(render_mode)
        if feats is None:
            if render_mode not in ("RGB+D", "RGB+ED"):
                raise ValueError(f"unknown render_mode {render_mode!r}")
            feats = [col, depths[:, None]]
        feats = torch.cat(feats, dim=-1)

        # Opacity-aware extent: beyond sqrt(2 ln(255 o)) sigmas a Gaussian's alpha is below 1/255.
        op = opacities.detach()
        extend = torch.sqrt(2.0 * torch.log(torch.clamp_min(op / ALPHA_THRESHOLD, 1.0))).clamp_max(3.33)
        radii = torch.ceil(extend[:, None] * std2d.detach())
        m2 = means2d.detach()
        visible = (
            (det.detach() > 0)
            & (depths.detach() > near_plane)
            & (depths.detach() < far_plane)
            & (op >= ALPHA_THRESHOLD)
            & (m2[:, 0] + radii[:, 0] > 0)
            & (m2[:, 0] - radii[:, 0] < width)
            & (m2[:, 1] + radii[:, 1] > 0)
            & (m2[:, 1] - radii[:, 1] < height)
        )
        radii = torch.where(visible[:, None], radii, torch.zeros_like(radii))
        all_radii.append(radii.int())
        all_depths.append(depths)

        ids = torch.nonzero(visible).squeeze(1)
        ids = ids[torch.sort(depths.detach()[ids], stable=True).indices]  # front to back
        # Tile ranges [x0, x1) x [y0, y1) of every visible Gaussian's box.
        lo = torch.floor((m2[ids] - radii[ids]) / tile_size).long()
        hi = torch.ceil((m2[ids] + radii[ids]) / tile_size).long()
        x0, x1 = lo[:, 0].clamp(0, tiles_x), hi[:, 0].clamp(0, tiles_x)
        y0, y1 = lo[:, 1].clamp(0, tiles_y), hi[:, 1].clamp(0, tiles_y)
        nx, ny = (x1 - x0).clamp_min(0), (y1 - y0).clamp_min(0)
        counts = nx * ny
        # One (tile, Gaussian) pair per covered tile; a stable sort by tile keeps depth order within a tile.
        rank = torch.repeat_interleave(torch.arange(ids.numel(), device=device), counts)
        local = torch.arange(rank.numel(), device=device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts
        )
        tx = x0[rank] + local % nx[rank].clamp_min(1)
        ty = y0[rank] + local // nx[rank].clamp_min(1)
        tile_id = ty * tiles_x + tx
        order = torch.sort(tile_id, stable=True).indices
        tile_id, rank = tile_id[order], rank[order]
        tiles, per_tile = torch.unique_consecutive(tile_id, return_counts=True)
        starts = torch.cumsum(per_tile, 0) - per_tile

        # Every pixel not covered by any Gaussian keeps zero features and T = 1.
        pixel_ids, tile_feats, tile_T = [], [], []
        for tid, s, n in zip(tiles.tolist(), starts.tolist(), per_tile.tolist(), strict=True):
            gy, gx = divmod(tid, tiles_x)
            ys, xs = gy * tile_size, gx * tile_size
            yy, xx = torch.meshgrid(
                torch.arange(ys, min(ys + tile_size, height), device=device),
                torch.arange(xs, min(xs + tile_size, width), device=device),
                indexing="ij",
            )
            yy, xx = yy.reshape(-1), xx.reshape(-1)
            pix = torch.stack([xx, yy], dim=-1).to(dtype) + 0.5
            g = ids[rank[s : s + n]]
            f, T = _composite_tile(pix, means2d[g], conics[g], opacities[g], feats[g], chunk, alpha_cap)
            pixel_ids.append(yy * width + xx)
            tile_feats.append(f)
            tile_T.append(T)
        image = feats.new_zeros((height * width, feats.shape[1]))
        T_img = feats.new_ones(height * width)
        if pixel_ids:
            pid = torch.cat(pixel_ids)
            image = image.index_copy(0, pid, torch.cat(tile_feats))
            T_img = T_img.index_copy(0, pid, torch.cat(tile_T))
        image, T_img = image.reshape(height, width, -1), T_img.reshape(height, width)
        alpha = 1.0 - T_img
        if backgrounds is not None:
            bg = backgrounds[ci]
            if render_mode in ("RGB+D", "RGB+ED"):
                bg = torch.cat([bg, bg.new_zeros(1)])
            elif render_mode in ("D", "ED"):
                bg = bg.new_zeros(1)
            image = image + T_img[..., None] * bg
        if render_mode in ("ED", "RGB+ED"):
            image = torch.cat([image[..., :-1], image[..., -1:] / alpha[..., None].clamp_min(1e-10)], dim=-1)
        out_colors.append(image)
        out_alphas.append(alpha[..., None])
    meta = {"radii": torch.stack(all_radii), "means2d": all_means2d, "depths": torch.stack(all_depths),
            "width": width, "height": height}  # fmt: skip
    return torch.stack(out_colors), torch.stack(out_alphas), meta
