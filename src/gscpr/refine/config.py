"""The options of one refinement, as plain data: named presets of them live in :mod:`gscpr.recipes`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..solvers import SolverOptions, canonical_solver_name, get_solver

__all__ = ["DEPTH_SAMPLING", "PRINCIPAL_POINTS", "RefineConfig"]

DEPTH_SAMPLING = ("bilinear", "nearest", "floor")
PRINCIPAL_POINTS = ("camera", "half-size")


@dataclass
class RefineConfig:
    """Options of one refinement (PoseLib style: every knob explicit, with the defaults we measured).

    The defaults are the ``gscpr`` recipe; ``gscpr.recipes.RECIPES`` names the others.
    """

    solver: str = "poselib"  # absolute pose solver (gscpr.solvers); aliases are resolved ("paper" -> opencv-epnp)
    relative: bool = False  # GS-CPR_rel: a relative pose render -> query, scaled by the rendered depth
    relative_solver: str = "essential"  # the relative pose solver when ``relative``
    ransac_px: float = 2.0  # inlier threshold in query pixels (the paper: 1 px at 640x480, 2.5 px at 1080p)
    # RANSAC bounds and confidence; None takes the solver's own (PoseLib / COLMAP: at most 10,000 iterations, at
    # least 20, confidence 0.9999; OpenCV EPnP: 2000 and 0.99, the original's): gscpr.solvers.
    ransac_max_iterations: int | None = None
    ransac_min_iterations: int | None = None
    ransac_confidence: float | None = None
    solver_options: dict[str, Any] = field(default_factory=dict)  # passed unchanged to the solver's backend
    min_matches: int = 4  # fewer than this: keep the coarse pose (as the original)
    # Keep at most this many matches, spread over the query image (best score per cell first): beyond about a
    # thousand, more correspondences cost sub-pixel, lifting and PnP time without improving the pose. None: all.
    max_matches: int | None = 1024
    min_inliers: int = 12  # a pose with fewer inliers is not trusted
    # Depth at a render keypoint (gscpr.refine.lift): "bilinear", "nearest" (the closest pixel centre) or "floor"
    # (depth[int(y), int(x)]: the original's lookup of its integer keypoints, truncated).
    depth_sampling: str = "bilinear"
    min_alpha: float = 0.5  # lifted pixels must be this opaque in the render
    max_depth_jump: float = 0.05  # bilinear lookups across a relative depth step above this are dropped
    iterations: int = 1  # render again at the refined pose and refine again, up to this many times
    stop_rot_deg: float = 0.01  # stop iterating when an update is smaller than this ...
    stop_trans: float = 1e-4  # ... and this (scene units)
    render_scale: float = 1.0  # render and match at this fraction of the query resolution
    # Align each query keypoint to its render patch (match/subpixel.py): on the generated test scenes it takes
    # XFeat from 0.4 deg to 0.006 deg and SIFT / LightGlue below 0.002 deg. The paper's recipe has no such step.
    subpixel: bool = True
    # When the render at the coarse pose gives no pose (too few matches or inliers, solver failure), render again
    # at the coarse pose with other cameras, (canvas, focal) factors of the query camera's, and keep the one whose
    # pass gives the most inliers: a canvas twice as large at the same focal length sees what a camera turned
    # away from the query still has in view (at the query's scale); a shorter or longer focal length makes up
    # for a coarse camera much closer to or farther from the scene. Only failed queries pay for it. () disables.
    recovery: tuple[tuple[float, float], ...] = ((2.0, 1.0), (1.0, 0.6), (1.0, 1.6))
    # The principal point lifting and PnP use: "camera" (the camera's own, in the pixel-index convention, as
    # rendered) or "half-size" ((W/2, H/2) in pixel-index numbers: the original's K, half a pixel off its own
    # renders, whose principal point is ((W-1)/2, (H-1)/2) there; see gscpr.camera).
    principal_point: str = "camera"
    # RGB in [0, 1] behind the renders (and the transparent pixels of RGBA queries); None: the model's own
    # (gscpr.splat.render.model_background). `gscpr refine` resolves None from the model and the dataset format.
    background: tuple[float, float, float] | None = None
    backend: str = "auto"  # rasterizer: auto, gsplat or torch
    # Rasterizer settings (gscpr.splat.render): the near plane in scene units, the largest alpha of one Gaussian
    # at a pixel and the depth normaliser's epsilon. gsplat's are 0.01, 0.999 and none; the Inria rasterizer the
    # original renders with drops Gaussians at z <= 0.2, caps alpha at 0.99 and divides by sum(a T) + 1e-6.
    near_plane: float = 0.01
    alpha_cap: float = 0.999
    depth_eps: float = 0.0
    seed: int = 0
    # Verification of each solved pose (gscpr.refine.verify): a render at the refined pose at this fraction of the
    # render camera compared with the query, and a calibrated confidence from it and the solver's numbers. A pose
    # whose confidence is below min_confidence (None: the fitted model's threshold) is "unverified": the coarse
    # pose is kept, or with keep_unverified the refined pose, flagged.
    verify: bool = True
    verify_scale: float = 0.5
    min_confidence: float | None = None
    keep_unverified: bool = False
    confidence_model: str | None = None  # a confidence.json of benchmarks/fit_confidence.py (None: the packaged one)

    def __post_init__(self) -> None:
        self.solver = canonical_solver_name(self.solver)
        self.relative_solver = canonical_solver_name(self.relative_solver)
        get_solver(self.solver, "absolute")
        get_solver(self.relative_solver, "relative")
        if self.depth_sampling not in DEPTH_SAMPLING:
            raise ValueError(f"depth_sampling must be one of {', '.join(DEPTH_SAMPLING)}, got {self.depth_sampling!r}")
        if self.principal_point not in PRINCIPAL_POINTS:
            raise ValueError(
                f"principal_point must be one of {', '.join(PRINCIPAL_POINTS)}, got {self.principal_point!r}"
            )
        if not (0.0 < self.alpha_cap < 1.0):
            raise ValueError(f"alpha_cap must be in (0, 1), got {self.alpha_cap}")
        if self.near_plane < 0 or self.depth_eps < 0:
            raise ValueError(f"near_plane and depth_eps must be >= 0, got {self.near_plane}, {self.depth_eps}")
        if not (math.isfinite(self.ransac_px) and self.ransac_px > 0):
            raise ValueError(f"ransac_px must be a finite number > 0, got {self.ransac_px}")
        if self.min_inliers < 1:
            raise ValueError(f"min_inliers must be at least 1, got {self.min_inliers}")
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")
        if not 0 < self.verify_scale <= 1:
            raise ValueError(f"verify_scale must be in (0, 1], got {self.verify_scale}")
        if self.min_confidence is not None and not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if not (math.isfinite(self.render_scale) and self.render_scale > 0):
            raise ValueError(f"render_scale must be positive, got {self.render_scale}")
        self.recovery = tuple(tuple(float(v) for v in r) for r in self.recovery)  # lists from JSON configs
        if self.background is not None:
            self.background = tuple(float(v) for v in self.background)
            if len(self.background) != 3 or not all(0.0 <= v <= 1.0 for v in self.background):
                raise ValueError(f"background must be 3 numbers in [0, 1], got {self.background}")

    def render_options(self) -> dict[str, float]:
        """The keyword arguments of :func:`gscpr.splat.render.render` this configuration sets."""
        return {"near_plane": self.near_plane, "alpha_cap": self.alpha_cap, "depth_eps": self.depth_eps}

    def pose_solver_options(self) -> SolverOptions:
        """What the pose solvers take from this configuration (:class:`~gscpr.solvers.SolverOptions`)."""
        return SolverOptions(threshold_px=self.ransac_px, max_iterations=self.ransac_max_iterations,
                             min_iterations=self.ransac_min_iterations, confidence=self.ransac_confidence,
                             seed=self.seed, backend=self.solver_options)  # fmt: skip
