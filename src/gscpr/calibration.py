"""How far a run's ``refined`` status and its confidences can be trusted: acceptance, precision and recall of
``refined``, the reliability of the confidence in bins, and the expected calibration error.

A query is *accepted* when its status is ``refined`` (with verification on: verified). Its *solved* pose is
the pose the solver found, whether accepted or not (an ``unverified`` query keeps its coarse pose, but its record
holds the solved one: ``gscpr.records``); queries where no pose was solved have none. The confidence
(``gscpr.refine.verify``) is the predicted probability that the solved pose is within the success threshold, so
calibration compares it with the solved pose's success. Success is decided by the caller with the project's one
criterion, :func:`gscpr.evaluate.within`.

- precision: of the accepted queries, the share whose pose is within the threshold;
- recall: of the queries whose solved pose is within the threshold, the share accepted;
- expected calibration error (ECE): over ``bins`` equal-width confidence bins, the mean over queries of
  ``|mean confidence - success rate|`` of their bin (Guo et al., "On Calibration of Modern Neural Networks",
  ICML 2017, eq. 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BINS", "acceptance", "expected_calibration_error", "reliability_bins"]

BINS = 10  # equal-width confidence bins of the reliability plot and the ECE


def _bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """The bin of each confidence in [0, 1]: ``floor(p * bins)``, 1.0 in the last bin."""
    return np.clip((np.asarray(confidence, dtype=float) * bins).astype(int), 0, bins - 1)


def reliability_bins(confidence: Sequence[float], success: Sequence[bool], bins: int = BINS) -> list[dict]:
    """One entry per equal-width bin of [0, 1]: ``lo``, ``hi``, ``count`` and, where ``count > 0``, the bin's
    ``confidence`` (mean predicted) and ``success`` (observed rate; None for empty bins). ``confidence [N]`` in
    [0, 1] and ``success [N]`` (bool) pair up; raises ``ValueError`` if their lengths differ."""
    p, y = np.asarray(confidence, dtype=float), np.asarray(success, dtype=bool)
    if p.shape != y.shape:
        raise ValueError(f"{len(p)} confidences for {len(y)} outcomes")
    idx = _bin_index(p, bins)
    out = []
    for b in range(bins):
        m = idx == b
        n = int(m.sum())
        out.append({"lo": b / bins, "hi": (b + 1) / bins, "count": n,
                    "confidence": float(p[m].mean()) if n else None,
                    "success": float(y[m].mean()) if n else None})  # fmt: skip
    return out


def expected_calibration_error(confidence: Sequence[float], success: Sequence[bool], bins: int = BINS) -> float:
    """ECE over ``bins`` equal-width bins (module docstring): in [0, 1], ``nan`` without any query."""
    table = reliability_bins(confidence, success, bins)
    n = sum(b["count"] for b in table)
    if n == 0:
        return float("nan")
    return float(sum(b["count"] * abs(b["confidence"] - b["success"]) for b in table if b["count"]) / n)


def acceptance(
    statuses: Sequence[str],
    success: Sequence[bool],
    solved_success: Sequence[bool | None],
    confidence: Sequence[float | None],
    bins: int = BINS,
) -> dict:
    """What a run's ``refined`` status and confidences are worth, per query lists of equal length:

    Args:
        statuses: each query's status (``"refined"``: accepted).
        success: whether its final pose (the one written) is within the success threshold.
        solved_success: whether its solved pose is, None where no pose was solved.
        confidence: its confidence, None where none was recorded (no pose solved, verification off, older runs).

    Returns ``{"queries", "accepted", "acceptance_rate", "precision", "recall", "solved", "solved_right",
    "confidence_recorded", "ece", "reliability"}``: ``precision`` is None without an accepted query, ``recall``
    None without a right solved pose; ``ece`` and ``reliability`` are over the queries with both a confidence and
    a solved pose, None when there are none (``confidence_recorded`` = 0: say "no confidence recorded").
    """
    n = len(statuses)
    if not (len(success) == len(solved_success) == len(confidence) == n):
        raise ValueError("statuses, success, solved_success and confidence must have one entry per query")
    acc = np.array([s == "refined" for s in statuses], dtype=bool)
    ok = np.asarray(success, dtype=bool).reshape(n)
    solved = np.array([s is not None for s in solved_success], dtype=bool)
    solved_ok = np.array([bool(s) for s in solved_success], dtype=bool)
    scored = [(float(c), bool(s)) for c, s in zip(confidence, solved_success, strict=True)
              if c is not None and s is not None]  # fmt: skip
    p, y = (np.array(v) for v in zip(*scored, strict=True)) if scored else (np.zeros(0), np.zeros(0, bool))
    return {
        "queries": n,
        "accepted": int(acc.sum()),
        "acceptance_rate": float(acc.mean()) if n else None,
        "precision": float(ok[acc].mean()) if acc.any() else None,
        "recall": float(acc[solved_ok].mean()) if solved_ok.any() else None,
        "solved": int(solved.sum()),
        "solved_right": int(solved_ok.sum()),
        "confidence_recorded": len(scored),
        "ece": expected_calibration_error(p, y, bins) if scored else None,
        "reliability": reliability_bins(p, y, bins) if scored else None,
    }
