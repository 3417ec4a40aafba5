"""What refinement takes and gives: the :class:`Render` a query is matched against, the :class:`Status` of a
query and its :class:`RefineResult`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum

import numpy as np
import torch

from ..camera import Camera
from ..match.base import Matches

__all__ = ["RECOVERABLE", "STAGES", "Pass", "RefineResult", "Render", "Status"]

STAGES = ("render", "match", "subpixel", "lift", "pnp", "verify")  # the keys of RefineResult.timings (seconds)


class Status(str, Enum):
    """Why a query ended as it did. A ``str``: records and reports hold the value (``"too_few_matches"``)."""

    REFINED = "refined"  # the pose is the refinement's
    BAD_INPUT = "bad_input"  # unreadable image, wrong size, coarse pose not a finite 4x4, ...
    RENDER_FAILED = "render_failed"  # no model to render, or the renderer failed
    TOO_FEW_MATCHES = "too_few_matches"
    TOO_FEW_VALID_DEPTH = "too_few_valid_depth"  # matches, but too few on opaque rendered surfaces
    PNP_FAILED = "pnp_failed"  # the absolute solver found no pose
    RELATIVE_POSE_FAILED = "relative_pose_failed"  # the relative solver found no pose
    TOO_FEW_INLIERS = "too_few_inliers"
    # A pose was found but verification does not trust it (gscpr.refine.verify): the coarse pose is kept
    # (RefineConfig.keep_unverified: the refined pose, flagged), RefineResult.confidence says how sure it was.
    UNVERIFIED = "unverified"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


#: Failures of a first pass that another render at the coarse pose may avoid (RefineConfig.recovery).
RECOVERABLE = frozenset(
    {Status.TOO_FEW_MATCHES, Status.TOO_FEW_VALID_DEPTH, Status.TOO_FEW_INLIERS, Status.PNP_FAILED,
     Status.RELATIVE_POSE_FAILED}
)  # fmt: skip


@dataclass
class Render:
    """A render of the scene model, as matching and lifting take it.

    Attributes:
        rgb: ``[H, W, 3]`` RGB, float in [0, 1] or uint8, a numpy array or a tensor on any device.
        depth: ``[H, W]`` alpha-normalised z-depth in scene units, 0 where nothing renders.
        alpha: ``[H, W]`` accumulated opacity, or ``None`` (every pixel with depth counts as opaque: renders
            read from disk have no alpha).
        camera: the pinhole camera it was rendered with (pixel-index convention, see ``gscpr.camera``).
    """

    rgb: np.ndarray | torch.Tensor
    depth: np.ndarray
    alpha: np.ndarray | None
    camera: Camera


@dataclass
class Pass:
    """One render-match-solve pass at one pose: a pose (``status == REFINED``) or why there is none."""

    status: Status
    pose: np.ndarray | None = None
    num_matches: int = 0
    num_lifted: int = 0
    num_inliers: int = 0
    inlier_ratio: float = 0.0
    reproj_error: float = float("nan")
    message: str = ""
    matches: Matches | None = field(default=None, repr=False)
    render_rgb: np.ndarray | torch.Tensor | None = field(default=None, repr=False)
    # The inliers' query keypoints [K, 2] (undistorted pixels) and the render the pass matched, for verification.
    inlier_kpts: np.ndarray | None = field(default=None, repr=False)
    inlier_points: np.ndarray | None = field(default=None, repr=False)  # their world points [K, 3] (absolute step)
    solve_K: np.ndarray | None = field(default=None, repr=False)  # the pinhole [3, 3] the solver used
    reproj_rms: float = float("nan")  # RMS reprojection error over the inliers, query pixels
    ransac_iterations: int | None = None  # hypotheses the solver tried (Estimate.info["iterations"]), if it says
    render: Render | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == Status.REFINED


@dataclass
class RefineResult:
    """The outcome for one query; ``pose`` is the refined w2c pose, or the coarse one when not :attr:`ok`.

    ``confirmed`` says what the next pass made of the refinement: ``True`` when a render at the refined pose gave
    a pose again, ``False`` when it gave none (the refinement is kept, but may be wrong), ``None`` when no later
    pass ran (one iteration, or converged on the first).

    ``confidence`` is the calibrated probability that the solved pose is within the success threshold (< 5 deg and
    < 5 % of the scene distance; :mod:`gscpr.refine.verify`), ``None`` when no pose was solved or verification is
    off; ``verify`` holds the features it was computed from. ``status`` is ``refined`` only for a verified pose.
    ``solved`` is the solver's w2c pose ``[4, 4]`` where it is not ``pose`` (``unverified`` with the coarse pose
    kept), so that whether it was right can still be told; None otherwise.
    """

    pose: np.ndarray
    coarse: np.ndarray
    status: Status
    num_matches: int = 0
    num_lifted: int = 0
    num_inliers: int = 0
    inlier_ratio: float = 0.0
    reproj_error: float = float("nan")  # median over inliers, query pixels
    iterations: int = 0  # passes that gave a pose
    ransac_iterations: int | None = None  # RANSAC hypotheses of the pass the pose comes from, when the solver says
    confirmed: bool | None = None
    confidence: float | None = None
    verify: dict | None = None  # the verification features (gscpr.refine.verify.FEATURES) and model variant
    solved: np.ndarray | None = field(default=None, repr=False)
    timings: dict = field(default_factory=dict)
    message: str = ""
    matches: Matches | None = field(default=None, repr=False)  # of the pass the pose comes from, for overlays
    # The render those matches are on, [H, W, 3] in [0, 1] (a tensor on the render device when rendered here).
    render_rgb: np.ndarray | torch.Tensor | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == Status.REFINED

    def summary(self) -> dict:
        """The JSON-ready fields (no poses, matches or render)."""
        # Not asdict(): it would deep-copy the matches and the render only to drop them.
        skip = ("pose", "coarse", "solved", "matches", "render_rgb")
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        out["status"] = Status(self.status).value
        return out

    @classmethod
    def failed(cls, coarse: np.ndarray, status: Status, message: str = "") -> RefineResult:
        """The coarse pose kept, with the reason."""
        return cls(pose=coarse, coarse=coarse, status=status, message=message)
