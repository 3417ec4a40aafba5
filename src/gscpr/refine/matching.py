"""The matching step of a pass: the query at the render's scale on the matcher's device, render-to-query
matches, a cap on their number spread over the view, the sub-pixel alignment, and keypoints back in the
full-size query's pixels."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import torch

from ..camera import Camera
from ..match.base import Matcher, Matches, rescale_keypoints, resize_image, to_tensor_image
from ..match.subpixel import refine_subpixel
from .config import RefineConfig
from .rendering import render_camera
from .types import Render

__all__ = ["QueryImage", "match_render", "spread_select"]


def spread_select(kpts: np.ndarray, scores: np.ndarray, k: int, size: tuple[int, int], grid: int = 16) -> np.ndarray:
    """Indices of ``k`` of the keypoints ``[N, 2]``, spread over an image of ``size`` (W, H): the image is cut
    into ``grid`` x ``grid`` cells and cells take turns giving their best-scoring keypoint, so that a textured
    corner does not crowd out the rest of the view (which would weaken the PnP geometry)."""
    if len(kpts) <= k:
        return np.arange(len(kpts))
    W, H = size
    cx = np.clip((kpts[:, 0] / max(W, 1) * grid).astype(int), 0, grid - 1)
    cy = np.clip((kpts[:, 1] / max(H, 1) * grid).astype(int), 0, grid - 1)
    cell = cy * grid + cx
    order = np.lexsort((-scores, cell))  # by cell, best first within a cell
    start = np.searchsorted(cell[order], cell[order], side="left")
    rank = np.empty(len(kpts), dtype=int)
    rank[order] = np.arange(len(kpts)) - start  # 0 for each cell's best, 1 for its second, ...
    return np.sort(np.lexsort((-scores, rank))[:k])


@dataclass
class QueryImage:
    """A query prepared once for all its passes.

    Attributes:
        image: ``[H, W, 3]`` at the query camera's size, a tensor on the matcher's device (uint8 stays uint8).
        camera: the query's camera (with its distortion).
        render_camera: the pinhole renders are made with (``RefineConfig.render_scale`` of the query's).
        for_matching: the query at the render camera's size when ``render_scale`` made it smaller (both images
            then show the scene at one scale), else ``image``.
        scales: the x, y factors from the query to ``for_matching`` (None: not resized).
    """

    image: torch.Tensor
    camera: Camera
    render_camera: Camera
    for_matching: torch.Tensor
    scales: tuple[float, float] | None

    @classmethod
    def prepare(cls, image, camera: Camera, cfg: RefineConfig, device: torch.device) -> QueryImage:
        t = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(image))
        t = t.to(device)  # once: the matcher and the sub-pixel step share it
        cam = render_camera(camera, cfg)
        H, W = t.shape[:2]
        if cam.size == (W, H):
            return cls(t, camera, cam, t, None)
        small = resize_image(to_tensor_image(t, t.device), *cam.size).permute(1, 2, 0).clamp(0, 1)
        return cls(t, camera, cam, small, (cam.width / W, cam.height / H))


def match_render(
    matcher: Matcher,
    render: Render,
    query: QueryImage,
    cfg: RefineConfig,
    matches: Matches | None,
    gpu: AbstractContextManager,
    timings: dict[str, float],
) -> tuple[Matches, str]:
    """Matches render -> query in render pixels and full-size query pixels, and a message if the matcher failed.

    ``matches`` already computed on this render (by a batch) are used as they are (before the sub-pixel step).
    The device work runs under ``gpu``; the match and sub-pixel times are added to ``timings``.
    """
    t0 = time.perf_counter()
    message = ""
    if matches is None:
        try:
            with gpu:
                matches = matcher.match(render.rgb, query.for_matching)
        except (RuntimeError, ValueError) as e:  # a matcher that chokes on an image is a failed query
            matches, message = Matches.empty(), f"matcher failed: {e}"
    if cfg.max_matches and len(matches) > cfg.max_matches:
        matches = matches.subset(
            spread_select(matches.kpts1, matches.scores, cfg.max_matches, query.render_camera.size)
        )
    t1 = time.perf_counter()
    if cfg.subpixel and len(matches) and render.camera.size == query.render_camera.size:
        with gpu:
            matches, _ = refine_subpixel(render.rgb, query.for_matching, matches, device=matcher.device)
    if query.scales is not None and len(matches):
        matches = Matches(
            matches.kpts0, rescale_keypoints(matches.kpts1, *query.scales), matches.scores, matches.pairwise
        )
    timings["match"] += t1 - t0
    timings["subpixel"] += time.perf_counter() - t1
    return matches, message
