"""Scene models (3DGS, Scaffold-GS, ACT) and their renderers (gsplat on CUDA, a PyTorch reference anywhere)."""

from .gaussians import Gaussians, PlyFormatError, load_ply, save_ply
from .rasterize import rasterize_reference
from .render import RenderOutput, ViewGaussians, render
from .scaffold import ScaffoldModel, load_scaffold, save_scaffold

__all__ = [
    "ScaffoldModel",
    "load_scaffold",
    "save_scaffold",
    "Gaussians",
    "PlyFormatError",
    "RenderOutput",
    "ViewGaussians",
    "load_ply",
    "rasterize_reference",
    "render",
    "save_ply",
]
