"""Vanilla 3D Gaussian Splatting scenes, and the standard 3DGS PLY format they are written in.

Reading is in :mod:`gscpr.splat.ply` (the standard and compressed PLY layouts) and :mod:`gscpr.splat.formats`
(``.splat``, ``.spz``); ``gscpr.splat.model.load_gaussians`` picks the reader of a file. :func:`save_ply` writes the
Inria layout: ``x y z nx ny nz f_dc_0..2 f_rest_0..M opacity scale_0..2 rot_0..3`` as float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ..outputs import atomic_path
from .ply import PlyFormatError, read_scene_ply, warn_default
from .render import ViewGaussians

__all__ = ["Gaussians", "PlyFormatError", "gaussians_from_arrays", "load_ply", "save_ply"]


@dataclass
class Gaussians:
    """A 3DGS scene with raw (pre-activation) parameters, as trained and stored.

    Attributes:
        means: ``[N, 3]`` world positions.
        quats: ``[N, 4]`` rotations (w, x, y, z), unnormalised.
        log_scales: ``[N, 3]`` log standard deviations.
        opacity_logits: ``[N]`` opacity before the sigmoid.
        sh: ``[N, K, 3]`` SH coefficients, ``K = (sh_degree + 1) ** 2``; ``sh[:, 0]`` is the DC term.
    """

    means: Tensor
    quats: Tensor
    log_scales: Tensor
    opacity_logits: Tensor
    sh: Tensor

    #: The same Gaussians serve every view, so the renderer batches cameras.
    view_dependent_set: ClassVar[bool] = False

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        expected = {"means": (n, 3), "quats": (n, 4), "log_scales": (n, 3), "opacity_logits": (n,)}
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"Gaussians.{name} must have shape {shape}, got {tuple(getattr(self, name).shape)}")
        k = self.sh.shape[1] if self.sh.dim() == 3 else -1
        if self.sh.dim() != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3 or k not in (1, 4, 9, 16):
            raise ValueError(
                f"Gaussians.sh must have shape [{n}, K, 3] with K in 1, 4, 9, 16, got {tuple(self.sh.shape)}"
            )

    def gaussians_for_view(self, viewmat: Tensor, K: Tensor, width: int, height: int) -> ViewGaussians:
        """The scene model interface of ``render``: activated parameters with SH colours."""
        return ViewGaussians(self.means, self.quats, self.scales, self.opacities, self.sh, self.sh_degree)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        return math.isqrt(self.sh.shape[1]) - 1

    @property
    def scales(self) -> Tensor:
        return torch.exp(self.log_scales)

    @property
    def opacities(self) -> Tensor:
        return torch.sigmoid(self.opacity_logits)

    @property
    def device(self) -> torch.device:
        return self.means.device

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Gaussians:
        return Gaussians(**{f.name: getattr(self, f.name).to(device=device, dtype=dtype) for f in fields(self)})

    def subset(self, index: Tensor) -> Gaussians:
        """The Gaussians selected by a boolean mask or an index tensor."""
        return Gaussians(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def with_sh_degree(self, degree: int) -> Gaussians:
        """A copy truncated (or zero-padded) to SH ``degree``."""
        k = (degree + 1) ** 2
        sh = self.sh[:, :k]
        if sh.shape[1] < k:
            sh = torch.cat([sh, sh.new_zeros(len(self), k - sh.shape[1], 3)], dim=1)
        return replace(self, sh=sh)

    @classmethod
    def from_points(
        cls, xyz: np.ndarray | Tensor, rgb: np.ndarray | Tensor, scale: float | Tensor, opacity: float = 0.1,
        sh_degree: int = 3,
    ) -> Gaussians:  # fmt: skip
        """Isotropic Gaussians at points ``[N, 3]`` with colours ``[N, 3]`` in [0, 1] (e.g. an SfM cloud).

        ``scale`` is a standard deviation (scalar or ``[N]``).
        """
        from .sh import rgb_to_sh

        xyz = torch.as_tensor(np.asarray(xyz), dtype=torch.float32)
        rgb = torch.as_tensor(np.asarray(rgb), dtype=torch.float32)
        n = xyz.shape[0]
        sh = torch.zeros(n, (sh_degree + 1) ** 2, 3)
        sh[:, 0] = rgb_to_sh(rgb)
        scale = torch.as_tensor(scale, dtype=torch.float32).expand(n)
        return cls(
            means=xyz,
            quats=torch.tensor([1.0, 0.0, 0.0, 0.0]).repeat(n, 1),
            log_scales=torch.log(scale)[:, None].repeat(1, 3),
            opacity_logits=torch.logit(torch.full((n,), float(opacity))),
            sh=sh,
        )


def _prop_names(sh_degree: int) -> list[str]:
    n_rest = 3 * ((sh_degree + 1) ** 2 - 1)
    return [
        "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", *[f"f_rest_{i}" for i in range(n_rest)],
        "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
    ]  # fmt: skip


def load_ply(
    path: str | Path, device: torch.device | str = "cpu", warn: Callable[[str], None] = warn_default
) -> Gaussians:
    """Read a 3DGS PLY (standard or SuperSplat-compressed; binary or ASCII; float, double or half properties;
    Mip-Splatting's ``filter_3D`` applied) into :class:`Gaussians`; see :func:`gscpr.splat.ply.read_scene_ply`.

    Raises :class:`PlyFormatError` naming the file for a missing or truncated file, no ``vertex`` element, a missing
    or integer-typed property, an ``f_rest`` count that is not a full SH degree, no Gaussians, or non-finite
    values. What is in the file but not rendered is named once through ``warn``."""
    path = Path(path)
    if not path.is_file():
        raise PlyFormatError(f"{path}: no such file")
    return gaussians_from_arrays(path, read_scene_ply(path, warn), device)


def gaussians_from_arrays(path: Path, arrays: dict[str, np.ndarray], device: torch.device | str = "cpu") -> Gaussians:
    """:class:`Gaussians` from the raw float32 arrays a scene-file reader returns (``means``, ``quats``,
    ``log_scales``, ``opacity_logits``, ``sh``), checked: at least one Gaussian, every value finite, no zero
    quaternion; :class:`PlyFormatError` naming ``path`` otherwise."""
    n = len(arrays["means"])
    if n == 0:
        raise PlyFormatError(f"{path}: no Gaussians in the file (0 vertices); nothing to render")
    for name, key in [("position", "means"), ("SH", "sh"), ("opacity", "opacity_logits"), ("scale", "log_scales"),
                      ("rot", "quats")]:  # fmt: skip
        bad = ~np.isfinite(arrays[key]).reshape(n, -1).all(axis=1)
        if bad.any():
            raise PlyFormatError(
                f"{path}: {int(bad.sum())} Gaussian(s) have a non-finite {name} (first: {np.argmax(bad)})"
            )
    norms = np.linalg.norm(arrays["quats"], axis=1)
    if np.any(norms == 0):
        raise PlyFormatError(f"{path}: a Gaussian has a zero quaternion (index {int(np.argmin(norms))})")
    t = lambda key: torch.from_numpy(np.ascontiguousarray(arrays[key], dtype=np.float32)).to(device)  # noqa: E731
    return Gaussians(t("means"), t("quats"), t("log_scales"), t("opacity_logits"), t("sh"))


def save_ply(path: str | Path, gaussians: Gaussians) -> None:
    """Write :class:`Gaussians` as a binary little-endian 3DGS PLY readable by every 3DGS viewer."""
    from plyfile import PlyData, PlyElement

    g = gaussians.to("cpu", torch.float32)
    n, k = len(g), g.sh.shape[1]
    data = np.concatenate(
        [
            g.means.detach().numpy(),
            np.zeros((n, 3), np.float32),
            g.sh[:, 0].detach().numpy(),
            g.sh[:, 1:].detach().numpy().transpose(0, 2, 1).reshape(n, 3 * (k - 1)),
            g.opacity_logits.detach().numpy()[:, None],
            g.log_scales.detach().numpy(),
            g.quats.detach().numpy(),
        ],
        axis=1,
    )
    names = _prop_names(g.sh_degree)
    vertex = np.empty(n, dtype=[(name, "f4") for name in names])
    for i, name in enumerate(names):
        vertex[name] = data[:, i]
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(vertex, "vertex")]).write(str(tmp))
