"""Scene models (3DGS, Scaffold-GS, ACT) and their renderers (gsplat on CUDA, a PyTorch reference anywhere)."""

from .gaussians import Gaussians, PlyFormatError, load_ply, save_ply
from .model import load_gaussians, load_scene_model
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
    "load_gaussians",
    "load_ply",
    "load_scene_model",
    "rasterize_reference",
    "render",
    "save_ply",
]
