"""One render call for every scene model and backend.

>>> out = render(model, camera, poses_w2c)        # poses [B, 4, 4] world-to-camera, OpenCV axes
>>> out.rgb.shape, out.depth.shape, out.alpha.shape  # [B, H, W, 3], [B, H, W], [B, H, W]

Backends: ``"gsplat"`` (CUDA kernels, built on first use) and ``"torch"`` (the pure-PyTorch reference in
``rasterize.py``, any device). ``"auto"`` takes gsplat when CUDA and gsplat are available.

A scene model is anything with a ``gaussians_for_view(viewmat, K, width, height) -> ViewGaussians`` method
and a ``view_dependent_set`` flag: vanilla 3DGS returns the same Gaussians for every view (so cameras are
batched in one rasterizer call); Scaffold-GS decodes a different set per view.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from ..camera import Camera
from .rasterize import MAX_ALPHA, RenderMode, rasterize_reference

__all__ = [
    "BACKENDS",
    "RenderOutput",
    "SceneModel",
    "ViewGaussians",
    "gsplat_available",
    "model_background",
    "rasterize_gaussians",
    "render",
    "resolve_backend",
]

BACKENDS = ("auto", "gsplat", "torch")


@dataclass
class ViewGaussians:
    """Activated Gaussians ready for the rasterizer.

    ``means [N, 3]``, ``quats [N, 4]`` (wxyz), ``scales [N, 3]`` (standard deviations), ``opacities [N]`` in
    [0, 1], ``colors``: RGB ``[N, 3]`` or, with ``sh_degree`` set, SH coefficients ``[N, K, 3]``.
    """

    means: Tensor
    quats: Tensor
    scales: Tensor
    opacities: Tensor
    colors: Tensor
    sh_degree: int | None = None


class SceneModel(Protocol):
    """What :func:`render` needs of a scene model. A model may also have a ``background`` (RGB in [0, 1]: the one
    its files ask for, e.g. a Scaffold-GS ``cfg_args`` with ``white_background``), used when the caller gives
    none."""

    view_dependent_set: bool

    def gaussians_for_view(self, viewmat: Tensor, K: Tensor, width: int, height: int) -> ViewGaussians: ...


@dataclass
class RenderOutput:
    """``rgb [B, H, W, 3]`` in [0, 1] (composited on the background), ``depth [B, H, W]`` (alpha-normalised
    z-depth, 0 where nothing renders) and ``alpha [B, H, W]`` (accumulated opacity)."""

    rgb: Tensor
    depth: Tensor
    alpha: Tensor


@functools.cache
def gsplat_available() -> bool:
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend that will run: ``auto`` is gsplat on a CUDA device when gsplat is installed, else torch."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown render backend {backend!r}; expected one of {BACKENDS}")
    if backend == "auto":
        return "gsplat" if device.type == "cuda" and gsplat_available() else "torch"
    if backend == "gsplat":
        if device.type != "cuda":
            raise RuntimeError("the gsplat backend needs a CUDA device; use backend='torch' on the CPU")
        if not gsplat_available():
            raise RuntimeError("the gsplat backend needs the gsplat package: pip install gsplat")
    return backend


def model_background(model: SceneModel) -> tuple[float, float, float]:
    """The background ``model`` asks for (its ``background`` attribute, e.g. from a Scaffold-GS ``cfg_args``'s
    ``white_background``), black if it has none: what :func:`render` uses when given no background."""
    bg = getattr(model, "background", None)
    return (0.0, 0.0, 0.0) if bg is None else tuple(float(v) for v in bg)


def render(
    model: SceneModel,
    cameras: Camera | Sequence[Camera],
    poses_w2c: np.ndarray | Tensor,
    width: int | None = None,
    height: int | None = None,
    *,
    background: Sequence[float] | Tensor | None = None,
    backend: str = "auto",
    device: torch.device | str | None = None,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    alpha_cap: float = MAX_ALPHA,
    depth_eps: float = 0.0,
) -> RenderOutput:
    """Render RGB, depth and alpha of ``model`` at ``B`` poses.

    Args:
        model: a scene model (:class:`~gscpr.splat.gaussians.Gaussians`,
            :class:`~gscpr.splat.scaffold.ScaffoldModel`: anything :class:`SceneModel` describes).
        cameras: one :class:`~gscpr.camera.Camera` for all poses, or one per pose. Distortion is ignored
            (renders are ideal pinhole images).
        poses_w2c: ``[B, 4, 4]`` (or ``[4, 4]``) world-to-camera poses, OpenCV axes.
        width, height: output size; cameras of another size are rescaled exactly (``Camera.resized``).
        background: RGB behind the scene, in [0, 1]. None: the model's own ``background`` where it has one
            (:func:`model_background`: white for a Scaffold-GS model whose ``cfg_args`` has
            ``white_background=True``), else black. A background given here always wins.
        backend: ``"auto"``, ``"gsplat"`` or ``"torch"``.
        device: where to render; defaults to the model's device.
        near_plane, far_plane: Gaussians outside these view depths (scene units) are dropped; GS-CPR's
            rasterizer (Inria's diff-gaussian-rasterization) drops view depth <= 0.2.
        alpha_cap: the largest alpha of one Gaussian at a pixel (gsplat 0.999, Inria 0.99); see
            :func:`rasterize_gaussians` for how gsplat, whose cap is fixed in its kernel, takes a lower one.
        depth_eps: the depth is ``sum(z a T) / (sum(a T) + depth_eps)``; 0 divides by ``max(sum(a T), 1e-10)``
            (gsplat's "ED"). GS-CPR's depth rasterizer adds 1e-6.
    """
    poses = torch.as_tensor(np.asarray(poses_w2c) if not isinstance(poses_w2c, Tensor) else poses_w2c)
    if poses.dim() == 2:
        poses = poses[None]
    if poses.dim() != 3 or poses.shape[1:] != (4, 4):
        raise ValueError(f"poses_w2c must be [B, 4, 4], got {tuple(poses.shape)}")
    if not torch.isfinite(poses).all():
        bad = torch.nonzero(~torch.isfinite(poses).reshape(len(poses), -1).all(dim=1)).flatten().tolist()
        raise ValueError(f"poses_w2c has non-finite values (pose index {bad[:5]})")
    B = poses.shape[0]
    cams = [cameras] * B if isinstance(cameras, Camera) else list(cameras)
    if len(cams) != B:
        raise ValueError(f"got {len(cams)} cameras for {B} poses")
    if width is not None or height is not None:
        w, h = width or cams[0].width, height or cams[0].height
        cams = [c if c.size == (w, h) else c.resized(w, h) for c in cams]
    device = torch.device(device) if device is not None else getattr(model, "device", torch.device("cpu"))
    backend = resolve_backend(backend, device)
    if background is None:
        background = model_background(model)
    bg = torch.as_tensor(background, dtype=torch.float32, device=device).reshape(3)
    viewmats = poses.to(device=device, dtype=torch.float32)
    Ks = torch.as_tensor(np.stack([c.continuous_K() for c in cams]), dtype=torch.float32, device=device)

    sizes = {c.size for c in cams}
    if len(sizes) > 1:
        raise ValueError(f"all views of one render call must have the same size, got {sorted(sizes)}")
    # A model whose Gaussians do not depend on the view renders every camera in one rasterizer call.
    groups = [[i] for i in range(B)] if model.view_dependent_set else [list(range(B))]
    W, H = cams[0].size
    rgb = torch.empty(B, H, W, 3, device=device)
    depth = torch.empty(B, H, W, device=device)
    alpha = torch.empty(B, H, W, device=device)
    for idx in groups:
        view = model.gaussians_for_view(viewmats[idx[0]], Ks[idx[0]], W, H)
        colors, alphas, _ = rasterize_gaussians(
            view.means, view.quats, view.scales, view.opacities, view.colors, viewmats[idx], Ks[idx], W, H,
            backend=backend, sh_degree=view.sh_degree, render_mode="RGB+D", near_plane=near_plane,
            far_plane=far_plane, alpha_cap=alpha_cap,
        )  # fmt: skip
        # The background is composited here for both backends (gsplat's backgrounds argument is picky
        # about channel counts in RGB+ED mode): the colour channels were accumulated over a black one.
        rgb[idx] = (colors[..., :3] + (1.0 - alphas) * bg).clamp(0.0, 1.0)
        # Accumulated z normalised here (not by the rasterizer's "ED" mode) so that both backends take depth_eps.
        acc = alphas[..., 0]
        depth[idx] = colors[..., 3] / (acc + depth_eps if depth_eps > 0 else acc.clamp_min(1e-10))
        alpha[idx] = acc
    return RenderOutput(rgb, depth, alpha)


def rasterize_gaussians(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    backend: str = "auto",
    sh_degree: int | None = None,
    render_mode: RenderMode = "RGB",
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    alpha_cap: float = MAX_ALPHA,
    packed: bool = True,
    absgrad: bool = False,
) -> tuple[Tensor, Tensor, dict]:
    """Rasterize one set of Gaussians into ``C`` cameras with gsplat or the PyTorch reference: the one place
    that picks the rasterizer (the renderer and both trainers call it). Differentiable on both backends.

    Args:
        means: ``[N, 3]`` world positions. quats: ``[N, 4]`` rotations (w, x, y, z), not necessarily
            normalised. scales: ``[N, 3]`` standard deviations (activated, not log). opacities: ``[N]`` in
            [0, 1] (activated, not logits).
        colors: ``[N, D]`` features (RGB: D = 3) or, with ``sh_degree`` set, SH coefficients ``[N, K, 3]``
            evaluated from each camera centre (``gscpr.splat.sh``).
        viewmats: ``[C, 4, 4]`` world-to-camera poses, OpenCV axes (x right, y down, z forward).
        Ks: ``[C, 3, 3]`` intrinsics in the continuous pixel convention (pixel ``(i, j)`` is sampled at
            ``(i + 0.5, j + 0.5)``: ``Camera.continuous_K()``).
        width, height: image size in pixels.
        backend: ``"gsplat"`` (CUDA), ``"torch"`` (any device) or ``"auto"`` (:func:`resolve_backend`, on the
            device of ``means``).
        render_mode: ``"RGB"``, ``"D"`` (accumulated z), ``"ED"`` (z normalised by alpha), ``"RGB+D"`` or
            ``"RGB+ED"`` (the depth channel last).
        near_plane, far_plane: Gaussians outside these view depths are culled (the reference drops
            ``z <= near_plane``, gsplat ``z < near_plane``).
        alpha_cap: the largest alpha one Gaussian contributes to a pixel. The reference applies any cap.
            gsplat's kernel caps at 0.999 (``min(0.999f, opac * exp(-sigma))``, fixed in gsplat 1.5.3's
            CUDA source): a lower cap is applied by clamping the opacities to it, which is exact for every
            Gaussian with opacity <= cap and within ``opacity - cap`` (< 0.01 for the Inria cap 0.99) of the
            capped alpha for the others; a higher cap raises ``ValueError``.
        packed, absgrad: gsplat's options (its memory layout of ``info``; the absolute 2D gradients that
            ``DefaultStrategy(absgrad=True)`` reads). The reference ignores them: its ``info`` is always
            gsplat's unpacked layout.

    Returns:
        ``colors [C, H, W, X]`` accumulated over a black background (composite ``colors + (1 - alphas) * bg``
        yourself), ``alphas [C, H, W, 1]`` and gsplat's ``info`` dict (``means2d [C, N, 2]`` pixels, its
        gradient what the densification strategies read; ``radii``, 0 for culled Gaussians; ``depths
        [C, N]``; ``width``, ``height``).

    Raises:
        ValueError: unknown ``backend``; ``alpha_cap`` above 0.999 with gsplat.
        RuntimeError: ``"gsplat"`` without CUDA or without the package.
    """
    backend = resolve_backend(backend, means.device)
    args = (means, quats, scales, opacities, colors, viewmats, Ks, width, height)
    kwargs = dict(near_plane=near_plane, far_plane=far_plane, sh_degree=sh_degree, render_mode=render_mode)
    if backend == "gsplat":
        from gsplat import rasterization

        if alpha_cap > MAX_ALPHA:
            raise ValueError(
                f"gsplat caps alpha at {MAX_ALPHA} in its kernel: alpha_cap={alpha_cap} needs the torch backend"
            )
        if alpha_cap < MAX_ALPHA:
            args = (means, quats, scales, opacities.clamp_max(alpha_cap), *args[4:])
        return rasterization(*args, **kwargs, packed=packed, absgrad=absgrad)
    return rasterize_reference(*args, **kwargs, alpha_cap=alpha_cap)
