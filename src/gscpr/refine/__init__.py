"""Pose refinement: render at the coarse pose, match the query to the render, lift to 3D, solve.

==================  ==============================================================================
module              what
==================  ==============================================================================
``types``           :class:`Status`, :class:`Render`, :class:`RefineResult` (and one :class:`Pass`)
``config``          :class:`RefineConfig`: every option as plain data (presets: ``gscpr.recipes``)
``rendering``       the render camera, recovery cameras, renders handed over as :class:`Render`
``matching``        the query at the render's scale, matches capped and spread, sub-pixel alignment
``lift``            rendered depth -> world points; query keypoints undistorted
``absolute``        the GS-CPR step: lifted matches -> PnP-RANSAC (a solver of ``gscpr.solvers``)
``relative``        the GS-CPR_rel step: relative pose, scaled by the rendered depth, into the world frame
``refiner``         :class:`Refiner`: passes, recovery renders, iterations; :func:`refine_query`
``batch``           :func:`refine_batch`: one render and one feature-extraction call for many queries
==================  ==============================================================================

Whatever goes wrong for a query, the coarse pose is kept and :attr:`RefineResult.status` says why; refinement
never raises for a bad query.
"""

from .batch import refine_batch
from .config import RefineConfig
from .lift import lift_keypoints, undistort_keypoints
from .matching import spread_select
from .refiner import Refiner, refine_query, refine_relative
from .rendering import recovery_camera, render_camera
from .types import RECOVERABLE, STAGES, RefineResult, Render, Status

__all__ = [
    "RECOVERABLE",
    "STAGES",
    "RefineConfig",
    "RefineResult",
    "Refiner",
    "Render",
    "Status",
    "lift_keypoints",
    "recovery_camera",
    "refine_batch",
    "refine_query",
    "refine_relative",
    "render_camera",
    "spread_select",
    "undistort_keypoints",
]
