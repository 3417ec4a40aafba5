"""Verification of a refined pose: the signals that say whether a pass's pose is right, and the confidence made of
them.

PnP-RANSAC returning a pose with enough inliers is no proof: a repeated texture, a mirrored structure or a wrong
camera model gives a consistent, wrong pose with many inliers. Verification looks at the pose from the other side:
the scene model rendered at the refined pose should look like the query. It costs one small render (at
``RefineConfig.verify_scale`` of the render camera) and an image comparison; the solver's own numbers come free.

Features (:data:`FEATURES`, each a finite float; what is not available is 0 and flagged by the model variant):

- ``log_inliers``: ``log(1 + inliers)``; ``inlier_ratio``: inliers / lifted matches (the relative step: / matches);
  ``reproj``: the inliers' median reprojection error over the RANSAC threshold (absolute step; 0 for the relative
  one, which has none); ``coverage``: the share of an 8 x 8 grid over the query holding at least one inlier (a pose
  held by one corner is fragile).
- ``ncc``: the normalised cross-correlation of the image gradients of the render at the refined pose and of the
  query, over the render's opaque pixels (gradients: insensitive to exposure, white balance and to the smooth
  appearance changes ACT corrects; in [-1, 1]); ``ncc_gain``: ``ncc`` minus the same at the coarse pose (a right
  correction makes render and query agree better); ``ncc_spread``: how local that agreement is (the median of the
  same NCC over a 4 x 4 grid of cells minus their 10th percentile, :func:`image_agreement`): a pose one period off
  in a repeated texture agrees everywhere but on the view's non-repeating part.
- ``log_rot_change``: ``log(1 + deg)`` of the correction's rotation; ``trans_change``: its translation over the
  median rendered depth (scale-free).
- ``focal_error``: ``|log(f_fit / f)|`` where ``f_fit`` is the focal length that, with the pose, best explains
  the inliers (OpenCV's ``calibrateCamera`` on them, principal point, aspect ratio and distortion fixed);
  ``focal_gain``: how much that focal length lowers their RMS reprojection error, over the RANSAC threshold. A
  pose solved with wrong intrinsics explains the image almost as well as the right one would, so a render at it
  looks right; what gives it away is that another focal length explains the matches better.

The confidence is a logistic model over these features, fit on data (``benchmarks/fit_confidence.py``: queries of
the project's own scenes under the perturbation protocols and generated hard cases, labelled by the success
criterion of ``gscpr bench``, < 5 deg and < 5 % of the scene distance) and stored as plain data in
``confidence.json`` beside this file, with the scenes it was fit and checked on. One model per variant
(:data:`VARIANTS`, chosen by :func:`variant_for`): ``render`` uses every feature; ``no_render`` (no scene model to
render: renders read from disk) only the solver's; ``relative`` and ``relative_no_render`` the same for the
relative step (GS-CPR_rel), fit on its own rows, without the features it has not (``reproj``, the focal fit).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..camera import Camera

__all__ = [
    "FEATURES",
    "FEATURE_RANGE",
    "VARIANTS",
    "ConfidenceModel",
    "Verification",
    "gradient_ncc",
    "gradient_ncc_many",
    "image_agreement",
    "inlier_coverage",
    "clip_features",
    "load_confidence_model",
    "pose_features",
    "to_pinhole",
    "variant_for",
]

FEATURES = (
    "log_inliers",
    "inlier_ratio",
    "reproj",
    "coverage",
    "ncc",
    "ncc_gain",
    "ncc_spread",
    "log_rot_change",
    "trans_change",
    "focal_error",
    "focal_gain",
)
RENDER_FEATURES = ("ncc", "ncc_gain", "ncc_spread")  # what needs a render at the refined pose
_ABSOLUTE_ONLY = ("reproj", "focal_error", "focal_gain")  # the relative step has no reprojection error to fit
#: The confidence models, by variant: the features each reads.
VARIANTS = {
    "render": FEATURES,
    "no_render": tuple(f for f in FEATURES if f not in RENDER_FEATURES),
    "relative": tuple(f for f in FEATURES if f not in _ABSOLUTE_ONLY),
    "relative_no_render": tuple(f for f in FEATURES if f not in RENDER_FEATURES + _ABSOLUTE_ONLY),
}
#: Features are clipped to these ranges: a diverged focal fit or a wild correction says all it can at the bound.
FEATURE_RANGE = {"reproj": (0.0, 5.0), "trans_change": (0.0, 5.0), "focal_error": (0.0, 1.0), "focal_gain": (0.0, 5.0)}
MODEL_FILE = Path(__file__).with_name("confidence.json")
MIN_PIXELS = 64  # fewer opaque pixels than this: no image comparison
FOLD_PX = 1.0  # a pinhole pixel whose ray does not come back within this after distortion and undistortion is folded


def _grey(rgb: torch.Tensor) -> torch.Tensor:
    """``[H, W]`` float grey of an RGB ``[H, W, 3]`` (uint8 or float in [0, 1])."""
    t = rgb.float() / 255.0 if rgb.dtype == torch.uint8 else rgb.float()
    return t[..., :3].mean(dim=-1)


@lru_cache(maxsize=16)  # a camera per image (and device) would otherwise hold every grid
def _pinhole_grid(camera: Camera, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pixel of ``camera``'s pinhole (:meth:`~gscpr.camera.Camera.without_distortion`), where its ray
    falls in ``camera``'s image, as a ``grid_sample`` grid ``[1, H, W, 2]``, and whether the image holds that ray
    ``[H, W]``: inside it, and where a distortion polynomial that turns back (strong barrel distortion of k1 alone
    on a wide view) has not folded the ray onto a pixel that sees another one (undistorting it does not give the
    pinhole pixel back)."""
    W, H = camera.size
    v, u = np.mgrid[0:H, 0:W]
    d = camera.distortion_map()
    back = camera.undistort_points(d.reshape(-1, 2)).reshape(H, W, 2)
    unfolded = np.hypot(back[..., 0] - u, back[..., 1] - v) < FOLD_PX
    inside = (d[..., 0] >= 0) & (d[..., 0] <= W - 1) & (d[..., 1] >= 0) & (d[..., 1] <= H - 1) & unfolded
    grid = (2 * d + 1) / np.array([W, H]) - 1  # pixel-index centres -> align_corners=False coordinates
    return (torch.as_tensor(grid[None], dtype=torch.float32, device=device),
            torch.as_tensor(inside, device=device))  # fmt: skip


def to_pinhole(image: torch.Tensor, camera: Camera) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A float ``[H, W, 3]`` image of ``camera`` (its size) resampled (bilinear, on its device) to the pinhole of
    the same ``K``, what renders are, and the mask ``[H, W]`` of pixels whose ray the image holds; ``(image,
    None)`` for a camera without distortion. The grid is computed once per camera and device (the last 16 kept)."""
    if not camera.has_distortion:
        return image, None
    grid, inside = _pinhole_grid(camera, str(image.device))
    out = F.grid_sample(image.permute(2, 0, 1)[None], grid, mode="bilinear", align_corners=False)
    return out[0].permute(1, 2, 0), inside


def downsample(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``[H, W, C]`` or ``[H, W]`` to ``[height, width, C]`` / ``[height, width]`` by area averaging (float)."""
    t = image.float()
    t = t[..., None] if t.dim() == 2 else t
    if t.shape[:2] != (height, width):
        t = F.interpolate(t.permute(2, 0, 1)[None], size=(height, width), mode="area")[0].permute(1, 2, 0)
    return t[..., 0] if image.dim() == 2 else t


def gradient_ncc(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """Normalised cross-correlation of the grey-level gradients of two RGB images ``[H, W, 3]`` (same size, any
    device) over the pixels where ``mask [H, W]`` (bool) holds, in [-1, 1]; ``nan`` with fewer than
    :data:`MIN_PIXELS` such pixels or no texture. Central differences; both images' gradients in one vector
    (x and y), not mean-centred (gradients are signed: a shifted edge anti-correlates)."""
    return gradient_ncc_many(a[None], b, mask[None])[0]


def gradient_ncc_many(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """:func:`gradient_ncc` of each of ``B`` images ``a [B, H, W, 3]`` against one ``b [H, W, 3]`` over its own
    ``mask [B, H, W]``, computed together on ``a``'s device with one synchronisation."""
    return [ncc for ncc, _ in image_agreement(a, b, mask)]


def image_agreement(
    a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, grid: int = 4, min_energy: float = 0.1
) -> list[tuple[float, float]]:
    """For each of ``B`` renders ``a [B, H, W, 3]`` against the query ``b [H, W, 3]`` over its ``mask [B, H, W]``:
    ``(ncc, spread)``, with one synchronisation. ``ncc`` is :func:`gradient_ncc`. ``spread`` says whether the
    agreement is local: the same NCC in each cell of a ``grid`` x ``grid`` partition (cells with fewer than
    :data:`MIN_PIXELS` opaque pixels, or whose query gradient energy is under ``min_energy`` times the cells'
    mean, are left out), the median cell's minus the 10th percentile's; ``nan`` with fewer than 4 such cells. A
    pose one period off in a repeated texture agrees everywhere but on the view's non-repeating part (spread
    0.5-1 on the generated repeated room, <= 0.2 for right poses there and on mic's photos): the feature
    ``ncc_spread``."""
    ga, gb = _grey(a), _grey(b.to(a.device))  # [B, H, W], [H, W]
    m = mask.to(a.device)[:, 1:-1, 1:-1].float()

    def grads(g: torch.Tensor) -> torch.Tensor:  # [..., 2, H - 2, W - 2]
        return torch.stack([g[..., 1:-1, 2:] - g[..., 1:-1, :-2], g[..., 2:, 1:-1] - g[..., :-2, 1:-1]], dim=-3)

    da, db = grads(ga) * m[:, None], grads(gb)[None] * m[:, None]
    maps = torch.stack([m, (da * db).sum(1), (da * da).sum(1), (db * db).sum(1)])  # [4, B, H - 2, W - 2]
    whole = maps.sum((2, 3))  # [4, B]
    h, w = maps.shape[2] // grid, maps.shape[3] // grid
    cells = maps[:, :, : h * grid, : w * grid].reshape(4, -1, grid, h, grid, w).sum((3, 5)).flatten(2)
    both = torch.cat([whole[..., None], cells], dim=2).cpu()  # [4, B, 1 + grid^2]: the one synchronisation
    whole, cells = both[..., 0], both[..., 1:]
    out = []
    for k in range(whole.shape[1]):
        count, cross, aa, bb = whole[:, k].tolist()
        den = math.sqrt(aa * bb)
        ncc = cross / den if count >= MIN_PIXELS and den > 1e-12 else float("nan")
        c_count, c_cross, c_aa, c_bb = cells[:, k].double()
        keep = (c_count >= MIN_PIXELS) & (c_bb >= min_energy * c_bb.mean()) & (c_aa * c_bb > 1e-24)
        local = (c_cross[keep] / torch.sqrt(c_aa[keep] * c_bb[keep])).numpy()
        spread = float(np.median(local) - np.percentile(local, 10)) if len(local) >= 4 else float("nan")
        out.append((ncc, spread))
    return out


def inlier_coverage(kpts: np.ndarray, size: tuple[int, int], grid: int = 8) -> float:
    """The share of a ``grid`` x ``grid`` partition of an image of ``size`` (W, H) holding at least one of the
    keypoints ``[N, 2]`` (pixels)."""
    if len(kpts) == 0:
        return 0.0
    W, H = size
    cx = np.clip((kpts[:, 0] / max(W, 1) * grid).astype(int), 0, grid - 1)
    cy = np.clip((kpts[:, 1] / max(H, 1) * grid).astype(int), 0, grid - 1)
    return len(np.unique(cy * grid + cx)) / grid**2


def focal_fit(
    points3d: np.ndarray, pixels: np.ndarray, K: np.ndarray, size: tuple[int, int], max_points: int = 200
) -> tuple[float, float]:
    """The focal length that best explains the correspondences (world points ``[N, 3]`` -> pixels ``[N, 2]``)
    jointly with a pose, from the pinhole ``K [3, 3]``'s (square pixels, principal point, no distortion kept), and
    the RMS reprojection error (px) there: OpenCV ``calibrateCamera`` on one view. ``(nan, nan)`` with fewer than
    8 points or when OpenCV fails. At most ``max_points`` evenly spaced points are used (cost)."""
    import cv2

    if len(points3d) < 8:
        return float("nan"), float("nan")
    pick = np.linspace(0, len(points3d) - 1, min(len(points3d), max_points)).round().astype(int)
    obj, img = points3d[pick].astype(np.float32), pixels[pick].astype(np.float32)
    flags = (cv2.CALIB_USE_INTRINSIC_GUESS | cv2.CALIB_FIX_PRINCIPAL_POINT | cv2.CALIB_FIX_ASPECT_RATIO
             | cv2.CALIB_ZERO_TANGENT_DIST | cv2.CALIB_FIX_K1 | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3)  # fmt: skip
    try:
        rms, K_fit, *_ = cv2.calibrateCamera([obj], [img], size, K.astype(np.float64).copy(), np.zeros(5), flags=flags)
    except cv2.error:
        return float("nan"), float("nan")
    return float(K_fit[0, 0]), float(rms)


def pose_features(
    num_inliers: int,
    inlier_ratio: float,
    reproj_error: float,
    threshold_px: float,
    inlier_kpts: np.ndarray | None,
    image_size: tuple[int, int],
    rot_change_deg: float,
    trans_change: float,
    depth_scale: float,
    ncc_refined: float = float("nan"),
    ncc_coarse: float = float("nan"),
    focal: float = float("nan"),
    focal_fitted: float = float("nan"),
    rms_px: float = float("nan"),
    rms_fitted_px: float = float("nan"),
    ncc_spread: float = float("nan"),
) -> dict[str, float]:
    """The :data:`FEATURES` of one refined pass (see the module docstring); unavailable ones are 0.
    ``inlier_ratio`` is the pass's: inliers over what the solver was given (lifted matches for the absolute step,
    matches for the relative one)."""

    def finite(v: float) -> float:
        return float(v) if math.isfinite(v) else 0.0

    return clip_features(
        {
            "log_inliers": math.log1p(max(num_inliers, 0)),
            "inlier_ratio": float(inlier_ratio),
            "reproj": finite(reproj_error / max(threshold_px, 1e-9)),
            "coverage": inlier_coverage(inlier_kpts, image_size) if inlier_kpts is not None else 0.0,
            "ncc": finite(ncc_refined),
            "ncc_gain": finite(ncc_refined - ncc_coarse),
            "ncc_spread": finite(ncc_spread),
            "log_rot_change": math.log1p(max(rot_change_deg, 0.0)),
            "trans_change": finite(trans_change / depth_scale) if depth_scale > 0 else 0.0,
            "focal_error": finite(abs(math.log(focal_fitted / focal))) if focal_fitted > 0 and focal > 0 else 0.0,
            "focal_gain": finite(max(rms_px - rms_fitted_px, 0.0) / max(threshold_px, 1e-9)),
        }
    )


def clip_features(features: dict[str, float]) -> dict[str, float]:
    """``features`` with those of :data:`FEATURE_RANGE` clipped to their range."""
    return {k: min(max(v, FEATURE_RANGE[k][0]), FEATURE_RANGE[k][1]) if k in FEATURE_RANGE else v
            for k, v in features.items()}  # fmt: skip


@dataclass(frozen=True)
class ConfidenceModel:
    """A logistic model: ``sigmoid(intercept + sum(coef * (x - mean) / scale))`` over ``features``.

    Attributes:
        features: the feature names it reads (a subset of :data:`FEATURES`, in order).
        mean, scale: the standardisation fit with it.
        coef, intercept: the logistic regression's.
        fit: what it was fit and checked on (scenes, queries, calibration error), for the record.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    fit: dict

    def predict(self, features: dict[str, float]) -> float:
        """The probability in [0, 1] that the pose is within the success threshold."""
        z = self.intercept + sum(
            c * (features[f] - m) / s
            for f, m, s, c in zip(self.features, self.mean, self.scale, self.coef, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def to_json(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept, "fit": self.fit}  # fmt: skip

    @classmethod
    def uninformative(cls, features: tuple[str, ...] = FEATURES) -> ConfidenceModel:
        """A model that says 0.5 for everything (threshold 0.5): for collecting features before any fit."""
        n = len(features)
        return cls(tuple(features), (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, {"threshold": 0.5, "uninformative": True})

    @classmethod
    def from_json(cls, d: dict) -> ConfidenceModel:
        unknown = set(d["features"]) - set(FEATURES)
        if unknown:
            raise ValueError(f"confidence model reads unknown features {sorted(unknown)}")
        if not len(d["features"]) == len(d["mean"]) == len(d["scale"]) == len(d["coef"]):
            raise ValueError("confidence model: its features, mean, scale and coef differ in length")
        return cls(tuple(d["features"]), tuple(map(float, d["mean"])), tuple(map(float, d["scale"])),
                   tuple(map(float, d["coef"])), float(d["intercept"]), dict(d.get("fit", {})))  # fmt: skip


def variant_for(relative: bool, rendered: bool) -> str:
    """The :data:`VARIANTS` key of a pose from the relative (else absolute) step, with (else without) a render at
    it to compare with the query."""
    return ("relative" if rendered else "relative_no_render") if relative else ("render" if rendered else "no_render")


@cache
def load_confidence_model(variant: str, path: str | None = None) -> ConfidenceModel:
    """The fitted model ``variant`` (a :data:`VARIANTS` key) from ``path`` (default: the packaged
    ``confidence.json``). Raises ``KeyError`` for a variant the file has not."""
    data = json.loads(Path(path or MODEL_FILE).read_text(encoding="utf-8"))
    return ConfidenceModel.from_json(data["variants"][variant])


@dataclass
class Verification:
    """What verification made of a refined pass.

    Attributes:
        features: the :data:`FEATURES`.
        confidence: the calibrated probability that the pose is within the success threshold.
        verified: ``confidence >= RefineConfig.min_confidence``.
        variant: the confidence model used (a :data:`VARIANTS` key).
        seconds: the verification's own time (render and comparison).
    """

    features: dict[str, float]
    confidence: float
    verified: bool
    variant: str
    seconds: float = 0.0
