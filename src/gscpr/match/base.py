"""The matcher interface: ``match(image0, image1) -> Matches`` in full-resolution pixel coordinates.

Images are RGB, ``[H, W, 3]``, float in [0, 1] or uint8, as numpy arrays or tensors. Keypoints are in the
OpenCV pixel-index convention (centre of the top-left pixel at ``(0, 0)``), like ``gscpr.camera``; a matcher
that works on a resized image maps its keypoints back with :func:`rescale_keypoints`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

__all__ = ["MatchError", "Matcher", "Matches", "rescale_keypoints", "resize_long_side", "to_tensor_image"]


class MatchError(RuntimeError):
    """A matcher that cannot run (missing package or weights) or an input it cannot take."""


@dataclass
class Matches:
    """Correspondences between two images: ``kpts0 [N, 2]``, ``kpts1 [N, 2]`` (x, y) and ``scores [N]``.

    ``pairwise`` carries what a matcher computed about the pair as a whole, for the steps that take it (MASt3R's
    pointmaps, :class:`gscpr.pointmaps.PairPointmaps`, for GS-CPR_rel's ``mast3r-pair`` solver); ``None``
    otherwise. It describes the pair, so a subset of the matches keeps it.
    """

    kpts0: np.ndarray
    kpts1: np.ndarray
    scores: np.ndarray
    pairwise: Any = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.kpts0)

    @classmethod
    def empty(cls, pairwise: Any = None) -> Matches:
        return cls(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), pairwise)

    def subset(self, mask: np.ndarray) -> Matches:
        return Matches(self.kpts0[mask], self.kpts1[mask], self.scores[mask], self.pairwise)


def to_tensor_image(image, device: torch.device | str = "cpu") -> Tensor:
    """``[3, H, W]`` float32 in [0, 1] from an RGB image ``[H, W, 3]`` (numpy or tensor, uint8 or float)."""
    t = torch.as_tensor(np.ascontiguousarray(image)) if not isinstance(image, Tensor) else image
    if t.dim() != 3 or t.shape[-1] != 3:
        raise MatchError(f"expected an RGB image [H, W, 3], got shape {tuple(t.shape)}")
    t = t.to(device)
    t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    return t.permute(2, 0, 1).contiguous()


def resize_image(image: Tensor, width: int, height: int) -> Tensor:
    """``[C, H, W]`` resized to ``width x height`` (bilinear, antialiased: keypoints map back exactly with
    :func:`rescale_keypoints`)."""
    out = torch.nn.functional.interpolate(
        image[None], size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return out[0]


def resize_long_side(image: Tensor, max_size: int | None) -> tuple[Tensor, float, float]:
    """Resize ``[C, H, W]`` so that its long side is at most ``max_size``; returns it and the x, y scales."""
    H, W = image.shape[-2:]
    if not max_size or max(H, W) <= max_size:
        return image, 1.0, 1.0
    s = max_size / max(H, W)
    h, w = max(1, round(H * s)), max(1, round(W * s))
    return resize_image(image, w, h), w / W, h / H


def rescale_keypoints(kpts: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Keypoints of an image resized by ``(sx, sy)`` back in the original's pixel-index coordinates."""
    out = np.asarray(kpts, dtype=np.float64).copy()
    out[:, 0] = (out[:, 0] + 0.5) / sx - 0.5
    out[:, 1] = (out[:, 1] + 0.5) / sy - 0.5
    return out


@contextmanager
def inference():
    """``torch.inference_mode`` with scaled-dot-product attention kept off cuDNN's backend: that backend builds
    a new execution plan for each new sequence length, and LightGlue's point pruning makes every call new
    (~25 ms per attention call on an H100, 0.6 s per LighterGlue match; the flash and memory-efficient
    kernels need no plan)."""
    backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    with torch.inference_mode(), sdpa_kernel(backends):
        yield


class Matcher:
    """Base class: subclasses implement :meth:`_match` on ``[3, H, W]`` tensors on ``self.device``."""

    name = "matcher"

    def __init__(self, device: torch.device | str | None = None, max_size: int | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.max_size = max_size

    def match(self, image0, image1) -> Matches:
        """Match two RGB images; keypoints are returned at each image's own full resolution.

        Both images are resized by one factor (the larger one's long side to ``max_size``): a render and a
        query at one focal length keep their common scale even when their sizes differ."""
        t0, t1 = to_tensor_image(image0, self.device), to_tensor_image(image1, self.device)
        longest = max(*t0.shape[-2:], *t1.shape[-2:])
        if self.max_size and longest > self.max_size:
            (t0, *s0), (t1, *s1) = (resize_long_side(t, round(max(t.shape[-2:]) * self.max_size / longest))
                                    for t in (t0, t1))  # fmt: skip
        else:
            s0 = s1 = (1.0, 1.0)
        with inference():
            return self._full_resolution(self._match(t0, t1), s0, s1)

    def _input(self, image) -> tuple[Tensor, float, float]:
        """The network's input ``[3, h, w]`` on the device, and the x, y scales from the image to it."""
        return resize_long_side(to_tensor_image(image, self.device), self.max_size)

    @staticmethod
    def _full_resolution(m: Matches, scales0: tuple[float, float], scales1: tuple[float, float]) -> Matches:
        """Matches on the network's inputs mapped back to the images' full resolution."""
        if len(m) == 0:
            return Matches.empty(m.pairwise)
        return Matches(rescale_keypoints(m.kpts0, *scales0), rescale_keypoints(m.kpts1, *scales1), m.scores, m.pairwise)

    def match_batch(self, images0, images1) -> list[Matches]:
        """Match the pairs ``(images0[i], images1[i])``; backends that extract features for a whole batch in
        one network call (XFeat) override this, the others match pair by pair."""
        return [self.match(a, b) for a, b in zip(images0, images1, strict=True)]

    def _match(self, image0: Tensor, image1: Tensor) -> Matches:
        raise NotImplementedError
