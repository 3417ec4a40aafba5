"""The tables of ``gscpr bench`` results: ``bench.md`` and the failures column ``gscpr report`` shares."""

from __future__ import annotations

from ..text import plural
from .scene_scale import ABSOLUTE, FINE, SUCCESS

__all__ = ["TRUST_HEAD", "failures_text", "format_tables", "number", "trust_cells"]


def number(value, spec: str, scale: float = 1.0) -> str:
    """``value * scale`` formatted with ``spec``, or ``–`` where there is no value (null in ``bench.json``: no
    query to take a median of, or a NaN written as null)."""
    if value is None or value != value:
        return "–"
    return format(value * scale, spec)


def failures_text(run: dict) -> str:
    """A run's failures by cause, and the refinements the next pass did not confirm: ``"none"`` if neither."""
    fails = ", ".join(f"{k} {v}" for k, v in sorted(run["statuses"].items()) if k != "refined") or "none"
    if run.get("unconfirmed"):
        fails += f" (+{run['unconfirmed']} refined, not confirmed by the next pass)"
    return fails


#: The columns :func:`trust_cells` fills: what the ``refined`` status and the confidences of a run are worth.
TRUST_HEAD = ("accepted", "precision", "fine, accepted", "median rot °, accepted", "recall", "ECE")
NO_CONFIDENCE = "no confidence recorded"


def trust_cells(run: dict) -> list[str]:
    """A run's :data:`TRUST_HEAD` cells (``gscpr.calibration.acceptance``'s figures in ``bench.json``): the share
    of queries ``refined`` (accepted); the precision of ``refined`` (the success rate over the accepted queries),
    their fine success rate and median rotation error; the recall of ``refined``; the confidence's expected
    calibration error, or :data:`NO_CONFIDENCE` (verification off, or an older run). A ``bench.json`` written
    before these figures existed gives ``–`` in each."""
    if "acceptance_rate" not in run:
        return ["–"] * len(TRUST_HEAD)
    acc = run.get("after_accepted") or {}
    ece = number(run["ece"], ".3f") if run.get("confidence_recorded") else NO_CONFIDENCE

    def pct(v) -> str:
        text = number(v, ".1f", 100)
        return text if text == "–" else f"{text} %"

    return [pct(run["acceptance_rate"]), pct(run["precision"]), pct(acc.get("success_fine")),
            number(acc.get("median_rot_deg"), ".3f"), pct(run["recall"]), ece]  # fmt: skip


def format_tables(result: dict) -> str:
    """The markdown tables of a ``bench.json``: one row per protocol x matcher x solver."""
    d = result["scene_distance"]
    lines = [
        f"# Pose refinement accuracy: {result['scene']} ({result['format']}, "
        f"{plural(result['queries'], 'test view')} at {result['resolution']}, {result['model_size']:,} Gaussians) — "
        f"{result['device']}, {result['date']}",
        "",
        f"Scene scale D = {d:.4g}. Success: rotation < {SUCCESS[0]:g}° and translation < {SUCCESS[1]:g} D; fine: "
        f"< {FINE[0]:g}° and < {FINE[1]:g} D; abs: < {ABSOLUTE[0]:g}° and < {ABSOLUTE[1]:g} units (GSFeatLoc's code). "
        f"Recipe {result['config'].get('recipe', 'gscpr')}: at most {result['config']['iterations']} iteration(s), "
        f"RANSAC {result['config']['ransac_px']} px. Times are medians per query (ms).",
        "Success, fine, abs and the errors are over all queries. Accepted: the share `refined` (verified); "
        "precision: of the accepted, the share within the success threshold (their success rate), with their fine "
        "rate and median rotation error; recall: of the queries whose solved pose is within the threshold, the share "
        "accepted; ECE: the confidence's expected calibration error over 10 bins, against the solved pose's success.",
        "",
        "| protocol | matcher | solver | success before | success | fine | abs | median rot ° before → after "
        "| median trans before → after | mean rot ° | mean trans | " + " | ".join(TRUST_HEAD) + " | failures "
        "| ms / query |",
        "|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(TRUST_HEAD) + "---|---|",
    ]
    for r in result["runs"]:
        b, a = r["before"], r["after"]
        lines.append(
            f"| {r['protocol']} | {r['matcher']} | {r['solver']} | {number(b['success'], '.1f', 100)} % | "
            f"**{number(a['success'], '.1f', 100)} %** | {number(a['success_fine'], '.1f', 100)} % | "
            f"{number(a['success_abs'], '.1f', 100)} % | {number(b['median_rot_deg'], '.2f')} → "
            f"{number(a['median_rot_deg'], '.3f')} | {number(b['median_trans'], '.4f')} → "
            f"{number(a['median_trans'], '.5f')} | {number(a['mean_rot_deg'], '.3f')} | "
            f"{number(a['mean_trans'], '.4f')} | {' | '.join(trust_cells(r))} | {failures_text(r)} | "
            f"{number(r['ms_total'], '.1f')} |"
        )
    return "\n".join(lines) + "\n"
