"""Thumbnails of ``gscpr bench`` runs, for ``gscpr report``: query | render at the coarse pose | render at the
refined pose, the match overlay below; JPEG files ``<run>/thumbs/{ok,fail}_<query file stem>.jpg``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..data.images import to_uint8
from ..evaluate import within
from ..geometry import pose_errors
from ..outputs import write_image
from .scene_scale import SUCCESS

__all__ = ["ThumbnailKeeper", "thumb_stem", "thumbnail"]


def _panel(img, height: int) -> np.ndarray:
    img = to_uint8(img.cpu().numpy() if isinstance(img, torch.Tensor) else img)
    w = max(1, round(img.shape[1] * height / img.shape[0]))
    return cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)


def thumbnail(query, coarse_render, refined_render, overlay, height: int = 160) -> np.ndarray:
    """Query | render at the coarse pose | render at the refined pose on top, the match overlay below."""
    top = np.hstack([_panel(query, height), _panel(coarse_render, height), _panel(refined_render, height)])
    bottom = _panel(overlay, height)
    bottom = bottom[:, : top.shape[1]]
    pad = np.zeros((height, top.shape[1] - bottom.shape[1], 3), np.uint8)
    return np.vstack([top, np.hstack([bottom, pad])])


def thumb_stem(kind: str, name: str) -> str:
    """File stem of a query's thumbnail: ``ok_`` or ``fail_`` and the query's file stem."""
    from ..overlays import query_file_stem

    return f"{kind}_{query_file_stem(name)}"


class ThumbnailKeeper:
    """``on_result`` hook of :func:`~gscpr.pipeline.refine_queries`: keeps thumbnails of the first ``failures``
    failed queries (not refined, or refined but outside the success criterion) and ``successes`` good ones."""

    def __init__(self, out: Path, model, cfg, distance: float, failures: int = 6, successes: int = 3):
        self.out, self.model, self.cfg, self.distance = out, model, cfg, distance
        self.left = {"fail": failures, "ok": successes}
        for kind in self.left:  # a resumed run counts what it kept before
            self.left[kind] -= len(list(out.glob(f"{kind}_*.jpg")))

    def __call__(self, q, r, image) -> None:
        from ..overlays import overlay_image
        from ..splat.render import render

        rot, trans = pose_errors(r.pose, q.gt)
        kind = "ok" if r.ok and within(rot, trans, SUCCESS[0], SUCCESS[1] * self.distance) else "fail"
        if image is None or self.left[kind] <= 0:
            return
        self.left[kind] -= 1
        cam = q.camera.without_distortion()
        with torch.inference_mode():
            renders = render(self.model, cam, np.stack([q.coarse, r.pose]), background=self.cfg.background).rgb
        over = overlay_image(
            r.render_rgb if r.render_rgb is not None else renders[0], image, r, max_lines=80, label=False
        )
        jpg = cv2.cvtColor(thumbnail(image, renders[0], renders[1], over), cv2.COLOR_RGB2BGR)
        write_image(self.out / f"{thumb_stem(kind, q.name)}.jpg", jpg, [cv2.IMWRITE_JPEG_QUALITY, 85])
