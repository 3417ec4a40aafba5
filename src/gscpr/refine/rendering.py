"""The renders refinement makes: at which camera, and handed over in the form matching and lifting take."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..camera import Camera
from ..splat.render import render
from .config import RefineConfig
from .types import Render

__all__ = ["recovery_camera", "render_at", "render_camera", "render_many"]


def render_camera(query_camera: Camera, cfg: RefineConfig) -> Camera:
    """The camera renders are made with: the query's, without distortion, at ``cfg.render_scale``."""
    cam = query_camera.without_distortion()
    return cam.scaled(cfg.render_scale) if cfg.render_scale != 1.0 else cam


def recovery_camera(camera: Camera, canvas: float, focal: float) -> Camera:
    """``camera`` with its image grown ``canvas`` times about the principal point's offset (a wider field of view
    at the same scale) and its focal length times ``focal``."""
    W, H = round(camera.width * canvas), round(camera.height * canvas)
    grown = camera.cropped(-((W - camera.width) // 2), -((H - camera.height) // 2), W, H)
    return replace(grown, fx=camera.fx * focal, fy=camera.fy * focal)


def render_many(model, cameras: list[Camera], poses_w2c: np.ndarray, cfg: RefineConfig) -> list[Render]:
    """Renders at ``poses_w2c [B, 4, 4]`` in one call: RGB stays on the render device (the matcher takes it from
    there), depth and alpha come to the host for lifting. The rasterizer's near plane, alpha cap and depth
    epsilon are ``cfg``'s (:meth:`RefineConfig.render_options`). Raises what the renderer raises (``RuntimeError``,
    ``ValueError``)."""
    with torch.inference_mode():
        out = render(model, cameras, poses_w2c, background=cfg.background, backend=cfg.backend, **cfg.render_options())
    rgb, depth, alpha = out.rgb.float(), out.depth.float().cpu().numpy(), out.alpha.float().cpu().numpy()
    return [Render(rgb[i], depth[i], alpha[i], cam) for i, cam in enumerate(cameras)]


def render_at(model, camera: Camera, pose_w2c: np.ndarray, cfg: RefineConfig) -> Render:
    """One render at ``pose_w2c [4, 4]`` (see :func:`render_many`)."""
    return render_many(model, [camera], np.asarray(pose_w2c)[None], cfg)[0]
