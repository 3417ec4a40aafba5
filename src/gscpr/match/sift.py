"""OpenCV SIFT with Lowe's ratio test and a mutual nearest-neighbour check: the classical baseline."""

from __future__ import annotations

import cv2
import numpy as np
from torch import Tensor

from .base import Matcher, Matches

__all__ = ["SiftMatcher"]


class SiftMatcher(Matcher):
    name = "sift"

    def __init__(self, device=None, max_size: int | None = 1600, max_keypoints: int = 8000, ratio: float = 0.8):
        super().__init__("cpu", max_size)  # OpenCV runs on the CPU
        self.sift = cv2.SIFT_create(nfeatures=max_keypoints)
        self.ratio = ratio

    def _detect(self, image: Tensor):
        gray = (image.mean(0).cpu().numpy() * 255.0).clip(0, 255).astype(np.uint8)
        kps, desc = self.sift.detectAndCompute(gray, None)
        return np.array([k.pt for k in kps], dtype=np.float64).reshape(-1, 2), desc

    def _match(self, image0: Tensor, image1: Tensor) -> Matches:
        k0, d0 = self._detect(image0)
        k1, d1 = self._detect(image1)
        if d0 is None or d1 is None or len(k0) < 2 or len(k1) < 2:
            return Matches.empty()
        bf = cv2.BFMatcher(cv2.NORM_L2)
        fwd = bf.knnMatch(d0, d1, k=2)
        back = {m.queryIdx: m.trainIdx for m in bf.match(d1, d0)}  # best match of each keypoint of image 1
        pairs, scores = [], []
        for m in fwd:
            if len(m) == 2 and m[0].distance < self.ratio * m[1].distance and back.get(m[0].trainIdx) == m[0].queryIdx:
                pairs.append((m[0].queryIdx, m[0].trainIdx))
                scores.append(1.0 - m[0].distance / max(m[1].distance, 1e-9))
        if not pairs:
            return Matches.empty()
        i0, i1 = np.array(pairs).T
        return Matches(k0[i0], k1[i1], np.array(scores))
