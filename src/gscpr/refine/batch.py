"""Refinement of a batch of queries of one image size with the device work batched: one render call for all
coarse poses and one feature-extraction call for all renders and queries (matchers that support it); the
sub-pixel step, lifting and solving then run per query, and so do further passes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor

import numpy as np

from ..camera import Camera
from ..match.base import Matcher
from .config import RefineConfig
from .matching import QueryImage
from .refiner import Refiner
from .rendering import render_camera, render_many
from .types import RefineResult

__all__ = ["refine_batch"]


def refine_batch(
    model,
    query_images: list,
    query_cameras: list[Camera],
    coarse_poses: np.ndarray,
    matcher: Matcher,
    cfg: RefineConfig | None = None,
    pool: Executor | None = None,
) -> list[RefineResult]:
    """:meth:`Refiner.refine` for ``B`` queries (RGB ``[H, W, 3]`` each, one size), their cameras and coarse w2c
    poses ``[B, 4, 4]``, with the render and the feature extraction batched. The per-query rest runs in the
    threads of ``pool`` when given (device work taking turns under a lock, solving in parallel). The render and
    match times of the batch are shared equally among its queries in their timings. A coarse pose that is not a
    finite 4x4 gives that query ``bad_input``; raises ``ValueError`` if the lengths differ or the render sizes do.
    """
    cfg = cfg or RefineConfig()
    B = len(query_images)
    coarse = [np.asarray(p, dtype=np.float64) for p in coarse_poses]
    if len(query_cameras) != B or len(coarse) != B:
        raise ValueError(f"got {B} images, {len(query_cameras)} cameras and {len(coarse)} poses")
    plain = Refiner(model, matcher, cfg)
    usable = [i for i in range(B) if coarse[i].shape == (4, 4) and np.all(np.isfinite(coarse[i]))]
    results: list[RefineResult | None] = [None] * B
    for i in set(range(B)) - set(usable):
        results[i] = plain.refine(query_images[i], query_cameras[i], coarse[i])  # bad_input, with the reason
    cams = [render_camera(query_cameras[i], cfg) for i in usable]
    if len({c.size for c in cams}) > 1:
        raise ValueError(f"refine_batch needs queries of one size, got {sorted({c.size for c in cams})}")
    if not usable:
        return results
    t0 = time.perf_counter()
    try:
        renders = render_many(model, cams, np.stack([coarse[i] for i in usable]), cfg)
    except (RuntimeError, ValueError):  # one bad view spoils a batched render: one by one, each saying why
        return [plain.refine(im, c, p) for im, c, p in zip(query_images, query_cameras, coarse, strict=True)]
    t1 = time.perf_counter()
    try:
        queries = [QueryImage.prepare(query_images[i], query_cameras[i], cfg, matcher.device) for i in usable]
        matches = matcher.match_batch([r.rgb for r in renders], [q.for_matching for q in queries])
        images = [q.image for q in queries]  # on the device already
    except (RuntimeError, ValueError):
        matches, images = [None] * len(usable), [query_images[i] for i in usable]  # each pair again, failing alone
    t2 = time.perf_counter()
    refiner = Refiner(model, matcher, cfg, threading.Lock()) if pool is not None else plain

    def finish(j: int) -> RefineResult:
        i = usable[j]
        return refiner.refine(images[j], query_cameras[i], coarse[i], renders[j], matches[j])

    done = list(pool.map(finish, range(len(usable)))) if pool is not None else [finish(j) for j in range(len(usable))]
    for i, r in zip(usable, done, strict=True):
        r.timings["render"] += (t1 - t0) / len(usable)
        r.timings["match"] += (t2 - t1) / len(usable)
        results[i] = r
    return results
