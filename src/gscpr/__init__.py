"""gscpr: camera pose refinement with 3D Gaussian Splatting (a re-implementation of GS-CPR, ICLR 2025)."""

__version__ = "0.1.0"
