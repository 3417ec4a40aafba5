"""The renders refinement makes: at which camera, and handed over in the form matching and lifting take."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..camera import Camera
from ..splat.render import render
from .config import RefineConfig
from .types import Render

__all__ = ["recovery_camera", "render_at", "render_camera", "render_many", "to_host"]


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
        depth, alpha = to_host(out.depth.float(), out.alpha.float())
    rgb = out.rgb.float()
    return [Render(rgb[i], depth[i], alpha[i], cam) for i, cam in enumerate(cameras)]


def to_host(*tensors: torch.Tensor) -> list[np.ndarray]:
    """Tensors as numpy arrays on the host. From a CUDA device they are copied into page-locked memory (PyTorch
    caches and reuses it) with one synchronisation: a batch of 1080p depth and alpha maps is ~130 MB, which a
    pageable copy moves slowly into freshly mapped, page-faulting memory on every call."""
    if not tensors or tensors[0].device.type != "cuda":
        return [t.cpu().numpy() for t in tensors]
    host = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in tensors]
    for h, t in zip(host, tensors, strict=True):
        h.copy_(t, non_blocking=True)
    torch.cuda.current_stream(tensors[0].device).synchronize()
    return [h.numpy() for h in host]


def render_at(model, camera: Camera, pose_w2c: np.ndarray, cfg: RefineConfig) -> Render:
    """One render at ``pose_w2c [4, 4]`` (see :func:`render_many`)."""
    return render_many(model, [camera], np.asarray(pose_w2c)[None], cfg)[0]
