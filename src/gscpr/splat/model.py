"""Loading any supported scene model from a path."""

from __future__ import annotations

from pathlib import Path

import torch

from .gaussians import Gaussians, PlyFormatError, load_ply
from .scaffold import ScaffoldModel, _latest_iteration, load_scaffold

__all__ = ["load_scene_model"]


def load_scene_model(
    path: str | Path, device: str | torch.device = "cpu", iteration: int | None = None
) -> Gaussians | ScaffoldModel:
    """A 3DGS PLY file, or a model folder with ``point_cloud/iteration_<N>/point_cloud.ply`` holding either a
    vanilla 3DGS (Inria, gsplat, nerfstudio exports) or a Scaffold-GS anchor set (with its MLP files)."""
    path = Path(path)
    if path.is_file():
        return load_ply(path, device)
    if not path.is_dir():
        raise PlyFormatError(f"{path}: no such model file or folder")
    it = iteration if iteration is not None else _latest_iteration(path)
    ply = path / "point_cloud" / f"iteration_{it}" / "point_cloud.ply"
    if not ply.is_file():
        raise PlyFormatError(f"{ply}: no such file")
    with open(ply, "rb") as f:
        header = f.read(4096).split(b"end_header")[0]
    if b"f_anchor_feat_0" in header:
        return load_scaffold(path, it, device)
    return load_ply(ply, device)
