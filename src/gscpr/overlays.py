"""Pictures of a query's matches: the render beside the query with match lines, and file names per query."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import torch

from .data.images import to_uint8
from .outputs import write_image
from .refine.types import RefineResult
from .text import plural

__all__ = ["draw_overlay", "overlay_image", "query_file_stem"]


def overlay_image(
    render_rgb: np.ndarray | torch.Tensor,
    query_rgb: np.ndarray | torch.Tensor,
    r: RefineResult,
    max_lines: int = 300,
    label: bool = True,
) -> np.ndarray:
    """Render (left) and query (right) side by side with match lines (green: refined, red: not) and, with
    ``label``, the status written on top; ``[H, W_render + W_query, 3]`` uint8 RGB."""
    a, b = (to_uint8(im.cpu().numpy() if isinstance(im, torch.Tensor) else im) for im in (render_rgb, query_rgb))
    h = max(a.shape[0], b.shape[0])
    canvas = np.zeros((h, a.shape[1] + b.shape[1], 3), np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    canvas[: b.shape[0], a.shape[1] :] = b
    if r.matches is not None and len(r.matches):
        idx = np.linspace(0, len(r.matches) - 1, min(max_lines, len(r.matches))).astype(int)
        for i in idx:
            p0 = tuple(int(v) for v in np.round(r.matches.kpts0[i]))
            p1 = (int(round(r.matches.kpts1[i, 0])) + a.shape[1], int(round(r.matches.kpts1[i, 1])))
            cv2.line(canvas, p0, p1, (0, 255, 0) if r.ok else (255, 0, 0), 1, cv2.LINE_AA)
    if label:
        text = f"{r.status}: {plural(r.num_matches, 'match')}, {r.num_lifted} lifted, {plural(r.num_inliers, 'inlier')}"
        for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # outlined: readable on dark and white
            cv2.putText(canvas, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, width, cv2.LINE_AA)
    return canvas


def query_file_stem(name: str) -> str:
    """A query name as one file-name stem for files written per query (overlays, thumbnails): its extension
    dropped, path separators and other characters unsafe in file names turned into ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(Path(name).with_suffix("")))


def draw_overlay(
    render_rgb: np.ndarray | torch.Tensor, query_rgb: np.ndarray, r: RefineResult, path: Path, max_lines: int = 300
) -> None:
    """:func:`overlay_image` written to ``path`` (JPEG or PNG by its extension)."""
    write_image(path, cv2.cvtColor(overlay_image(render_rgb, query_rgb, r, max_lines), cv2.COLOR_RGB2BGR))
