"""A run-level check of the intrinsics: do the matches of many queries of one camera ask for another focal length?

A pose solved with a wrong focal length explains its own matches almost as well as the right pose with the right
focal length (the error goes into the translation along the view), so no check of one query can tell: a render at
it looks right and the per-query confidence stays high. What gives it away is a bias that one query's noise
cannot make: verification fits, for each refined pose, the focal length that best explains the inliers together
with the pose (:func:`gscpr.refine.verify.focal_fit`) and records ``log(f_fit / f)`` as ``focal_log_ratio``.
With the right intrinsics these scatter around 0 with either sign; with a focal length 20 % too long they are
almost all of one sign and their median is several per cent off. Measured on an H200 on the project's scenes
(``benchmarks/results/intrinsics_check_h200_2026-11-30.md``): medians within 0.3 % of 0 with the right focal length
(fox, fern, mic, and mic with half its model missing), 2.9-6.2 % with it 20 % too long, 88-97 % of one sign.

The check: over the refined queries of one camera, the median ``focal_log_ratio`` is beyond ``max_bias`` and a
sign test (binomial, two-sided) says the signs are not a coin's at level ``alpha``; then the intrinsics are taken
to be wrong and every refined pose of that camera is not trusted. At the default level at least 11 queries are
needed before it can trip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..camera import Camera

__all__ = ["MAX_BIAS", "ALPHA", "FocalCheck", "camera_key", "focal_check"]

MAX_BIAS = 0.01  # |median log(f_fit / f)|: 1 %, three times the largest median seen with the right intrinsics
ALPHA = 1e-3  # the sign test's level


@dataclass(frozen=True)
class FocalCheck:
    """What :func:`focal_check` made of one camera's queries.

    Attributes:
        queries: how many ``focal_log_ratio`` values it read.
        median: their median, ``log(f_fit / f)`` (negative: the matches ask for a shorter focal length).
        same_sign: how many have the median's sign.
        p_value: the two-sided sign test's probability of at least that many of one sign by chance.
        suspect: whether the intrinsics look wrong (``|median| > max_bias`` and ``p_value < alpha``).
    """

    queries: int
    median: float
    same_sign: int
    p_value: float
    suspect: bool

    def message(self) -> str:
        """One line for the user: what the matches say of the focal length."""
        side = "shorter" if self.median < 0 else "longer"
        return (f"the matches of {self.queries} refined queries of this camera fit a focal length "
                f"{100 * abs(math.expm1(self.median)):.1f} % {side} than the intrinsics' (median; {self.same_sign} "
                f"of {self.queries} {side}): the intrinsics look wrong")  # fmt: skip

    def as_json(self) -> dict:
        return {"queries": self.queries, "median_log_ratio": self.median, "same_sign": self.same_sign,
                "p_value": self.p_value, "suspect": self.suspect}  # fmt: skip


def focal_check(log_ratios: Sequence[float], max_bias: float = MAX_BIAS, alpha: float = ALPHA) -> FocalCheck:
    """The check of one camera over its queries' ``log(f_fit / f)`` (finite floats; others are dropped).

    Raises ``ValueError`` for a negative ``max_bias`` or an ``alpha`` outside (0, 1)."""
    from scipy.stats import binomtest

    if max_bias < 0 or not 0 < alpha < 1:
        raise ValueError(f"max_bias must be >= 0 and alpha in (0, 1), got {max_bias}, {alpha}")
    x = np.asarray([v for v in log_ratios if v is not None and math.isfinite(v)], dtype=float)
    if len(x) == 0:
        return FocalCheck(0, 0.0, 0, 1.0, False)
    median = float(np.median(x))
    signed = x[x != 0]
    same = int(np.sum(np.sign(signed) == np.sign(median))) if median != 0 else 0
    p = float(binomtest(same, len(signed), 0.5).pvalue) if len(signed) and median != 0 else 1.0
    return FocalCheck(len(x), median, same, p, bool(abs(median) > max_bias and p < alpha))


def camera_key(camera: Camera) -> tuple:
    """What makes two queries' intrinsics the same camera: size, pinhole parameters (rounded to 1e-6 px) and
    distortion."""
    pinhole = (camera.fx, camera.fy, camera.cx, camera.cy)
    return (camera.width, camera.height, *(round(float(v), 6) for v in pinhole), camera.dist_model,
            tuple(round(float(v), 9) for v in camera.dist))  # fmt: skip
