"""Vanilla 3D Gaussian Splatting scenes and the standard 3DGS PLY format.

The PLY is the one written by the Inria code, gsplat's exporter and nerfstudio: one ``vertex`` element with
float properties ``x y z`` (position), optionally ``nx ny nz`` (unused zeros), ``f_dc_0..2`` (SH degree-0
coefficients), ``f_rest_0..M`` (higher SH coefficients, *channel-major*: all of red, then green, then blue),
``opacity`` (logit), ``scale_0..2`` (log standard deviations) and ``rot_0..3`` (quaternion w, x, y, z, not
necessarily normalised). Extra properties are ignored on read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from .render import ViewGaussians

__all__ = ["Gaussians", "PlyFormatError", "load_ply", "save_ply"]


class PlyFormatError(ValueError):
    """A PLY file that is not a 3D Gaussian Splatting scene; the message names the file and the problem."""


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


def load_ply(path: str | Path, device: torch.device | str = "cpu") -> Gaussians:
    """Read a standard 3DGS PLY (binary or ASCII) into :class:`Gaussians`.

    Raises :class:`PlyFormatError` naming the file for a missing file, no ``vertex`` element, a missing
    property, an ``f_rest`` count that is not a full SH degree, or non-finite values.
    """
    from plyfile import PlyData

    path = Path(path)
    if not path.is_file():
        raise PlyFormatError(f"{path}: no such file")
    try:
        ply = PlyData.read(str(path))
    except Exception as e:  # plyfile raises several types for corrupt headers and truncated bodies
        raise PlyFormatError(f"{path}: not a readable PLY file ({e})") from None
    if "vertex" not in ply:
        raise PlyFormatError(f"{path}: no 'vertex' element; not a 3D Gaussian Splatting PLY")
    v = ply["vertex"]
    names = {p.name for p in v.properties}
    required = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", *[f"scale_{i}" for i in range(3)]]
    required += [f"rot_{i}" for i in range(4)]
    missing = [r for r in required if r not in names]
    if missing:
        raise PlyFormatError(f"{path}: missing vertex properties {missing}; not a 3D Gaussian Splatting PLY")
    n_rest = sum(1 for n in names if n.startswith("f_rest_"))
    k = n_rest // 3 + 1
    if n_rest % 3 or k not in (1, 4, 9, 16) or any(f"f_rest_{i}" not in names for i in range(n_rest)):
        raise PlyFormatError(f"{path}: {n_rest} f_rest properties is not a full SH degree (expected 0, 9, 24 or 45)")

    def cols(keys: list[str]) -> np.ndarray:
        return np.stack([np.asarray(v[key], dtype=np.float32) for key in keys], axis=1)

    n = v.count
    means = cols(["x", "y", "z"])
    dc = cols(["f_dc_0", "f_dc_1", "f_dc_2"])
    rest = cols([f"f_rest_{i}" for i in range(n_rest)]) if n_rest else np.zeros((n, 0), np.float32)
    sh = np.concatenate([dc[:, None, :], rest.reshape(n, 3, k - 1).transpose(0, 2, 1)], axis=1)
    opacity = np.asarray(v["opacity"], dtype=np.float32)
    log_scales = cols(["scale_0", "scale_1", "scale_2"])
    quats = cols(["rot_0", "rot_1", "rot_2", "rot_3"])
    for name, arr in [("position", means), ("SH", sh), ("opacity", opacity), ("scale", log_scales), ("rot", quats)]:
        bad = ~np.isfinite(arr).reshape(n, -1).all(axis=1)
        if bad.any():
            raise PlyFormatError(
                f"{path}: {int(bad.sum())} Gaussian(s) have a non-finite {name} (first: {np.argmax(bad)})"
            )
    if n and np.any(np.linalg.norm(quats, axis=1) == 0):
        raise PlyFormatError(
            f"{path}: a Gaussian has a zero quaternion (index {int(np.argmin(np.linalg.norm(quats, axis=1)))})"
        )
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return Gaussians(t(means), t(quats), t(log_scales), t(opacity), t(sh))


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(path))
