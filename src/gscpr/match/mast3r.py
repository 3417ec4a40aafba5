"""MASt3R (Leroy et al., ECCV 2024): the paper's matcher, used when the ``mast3r`` package is installed and a
checkpoint is given (its weights cannot be downloaded here).

The recipe is the original's: each image's long side resized to 512 and centre-cropped to multiples of 16 (as
DUSt3R's ``load_images``), reciprocal nearest neighbours of the 24-D descriptors seeded on an 8-px grid of the
first image, matches within 3 px of a border dropped, and the keypoints mapped back to full resolution. Unlike
the original, the mapping keeps sub-pixel precision and undoes the crop offset (the original only rescales,
which is wrong whenever the crop removes pixels).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .base import Matcher, MatchError, Matches, rescale_keypoints

__all__ = ["Mast3rMatcher", "border_mask", "mast3r_geometry", "reciprocal_nn"]


def mast3r_geometry(width: int, height: int, size: int = 512) -> tuple[int, int, tuple[int, int, int, int]]:
    """DUSt3R's ``load_images(size=512)`` bookkeeping: the resized size and the crop box ``(left, top, right,
    bottom)`` in the resized image (centred, multiples of 16; a square image becomes 4:3)."""
    s = size / max(width, height)
    rw, rh = round(width * s), round(height * s)
    cx, cy = rw // 2, rh // 2
    halfw, halfh = ((2 * cx) // 16) * 8, ((2 * cy) // 16) * 8
    if rw == rh:
        halfh = 3 * halfw // 4
    return rw, rh, (cx - halfw, cy - halfh, cx + halfw, cy + halfh)


def reciprocal_nn(
    desc0: Tensor, desc1: Tensor, subsample: int = 8, max_iter: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal nearest neighbours between dense descriptor maps ``[H0, W0, D]`` and ``[H1, W1, D]`` (dot product).

    Seeds on a ``subsample``-px grid of image 0 go to their nearest neighbour in image 1 and back, repeatedly,
    until they stop moving; the pairs that map onto each other are returned as integer pixel coordinates
    ``(x, y)`` ``[N, 2]`` in each image, without duplicates.
    """
    H0, W0, D = desc0.shape
    H1, W1, _ = desc1.shape
    flat0, flat1 = desc0.reshape(-1, D), desc1.reshape(-1, D)
    ys, xs = torch.meshgrid(
        torch.arange(subsample // 2, H0, subsample), torch.arange(subsample // 2, W0, subsample), indexing="ij"
    )
    cur = (ys * W0 + xs).reshape(-1).to(desc0.device)
    for _ in range(max_iter):
        nn1 = (flat0[cur] @ flat1.T).argmax(dim=1)
        back = (flat1[nn1] @ flat0.T).argmax(dim=1)
        moved = back != cur
        cur = back
        if not moved.any():
            break
    nn1 = (flat0[cur] @ flat1.T).argmax(dim=1)
    recip = (flat1[nn1] @ flat0.T).argmax(dim=1) == cur
    pairs = torch.unique(torch.stack([cur[recip], nn1[recip]], dim=1), dim=0).cpu().numpy()
    p0 = np.stack([pairs[:, 0] % W0, pairs[:, 0] // W0], axis=1)
    p1 = np.stack([pairs[:, 1] % W1, pairs[:, 1] // W1], axis=1)
    return p0, p1


def border_mask(kpts: np.ndarray, width: int, height: int, border: int = 3) -> np.ndarray:
    """Keypoints at least ``border`` px inside the image (the original's 3-px filter)."""
    return (
        (kpts[:, 0] >= border) & (kpts[:, 0] < width - border) & (kpts[:, 1] >= border) & (kpts[:, 1] < height - border)
    )


class Mast3rMatcher(Matcher):
    name = "mast3r"

    def __init__(self, device=None, checkpoint: str | None = None, size: int = 512, subsample: int = 8):
        super().__init__(device, None)
        try:
            from mast3r.model import AsymmetricMASt3R
        except ImportError:
            raise MatchError(
                "the mast3r matcher needs the mast3r package (github.com/naver/mast3r, installed with its dust3r "
                "submodule) and a checkpoint: --matcher-checkpoint MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric.pth"
            ) from None
        if not checkpoint:
            raise MatchError("the mast3r matcher needs a checkpoint path (its weights cannot be downloaded here)")
        self.model = AsymmetricMASt3R.from_pretrained(checkpoint).to(self.device).eval()
        self.size, self.subsample = size, subsample

    def _prepare(self, image: Tensor, idx: int) -> tuple[dict, tuple[float, float, int, int]]:
        H, W = image.shape[-2:]
        rw, rh, (left, top, right, bottom) = mast3r_geometry(W, H, self.size)
        img = torch.nn.functional.interpolate(image[None], size=(rh, rw), mode="bicubic", align_corners=False,
                                              antialias=True)[..., top:bottom, left:right]  # fmt: skip
        view = {"img": img.clamp(0, 1) * 2 - 1, "true_shape": np.int32([[bottom - top, right - left]]), "idx": idx,
                "instance": str(idx)}  # fmt: skip
        return view, (rw / W, rh / H, left, top)

    def _match(self, image0: Tensor, image1: Tensor) -> Matches:
        from dust3r.inference import inference

        v0, g0 = self._prepare(image0, 0)
        v1, g1 = self._prepare(image1, 1)
        out = inference([(v0, v1)], self.model, self.device, batch_size=1, verbose=False)
        d0, d1 = out["pred1"]["desc"][0], out["pred2"]["desc"][0]
        p0, p1 = reciprocal_nn(d0, d1, self.subsample)
        keep = border_mask(p0, d0.shape[1], d0.shape[0]) & border_mask(p1, d1.shape[1], d1.shape[0])
        p0, p1 = p0[keep].astype(np.float64), p1[keep].astype(np.float64)
        # Undo the crop, then the resize (sub-pixel, pixel-index convention).
        k0 = rescale_keypoints(p0 + [g0[2], g0[3]], g0[0], g0[1])
        k1 = rescale_keypoints(p1 + [g1[2], g1[3]], g1[0], g1[1])
        return Matches(k0, k1, np.ones(len(k0)))
