"""What verification is worth over the accuracy suite: accepted wrong poses, the success it costs, calibration, time.

    python benchmarks/trust.py benchmarks/results/accuracy_*_h200_2026-11-30.json --out trust_h200_2026-11-30

Reads the ``bench.json`` files that ``benchmarks/accuracy.py`` writes (one per scene: every protocol x matcher x
solver run, each query's status, confidence and the errors of its output and of its solved pose) and reports, per
run and over all: the queries ``refined`` (accepted); the accepted wrong poses (outside the success threshold,
< 5 deg and < 5 % of the scene distance, ``gscpr.bench``'s criterion), the right solved poses rejected; the
success rate over all queries with verification (an unverified query keeps its coarse pose) against the same
without it (every solved pose kept), in points; the precision and recall of ``refined``; the expected calibration
error of the confidence against the solved pose's success (``gscpr.calibration``), per run and pooled per scene;
verification's median share of a query's time. Issue 17's measures: accepted wrong = 0, a success drop of at most
1 point, ECE < 0.05, verification <= 20 % of a query's time. Prints JSON, then markdown (also written with --out).

``--model confidence.json`` scores the same runs with another confidence model (a refit, before its GPU run): each
solved query's confidence is predicted again from the verification features its record keeps (``"verify"``, in
bench.json since 2026-11-30's second fit), accepted at that model's threshold (a query the run-level intrinsics
check demoted stays unverified); an accepted query's output is its solved pose, a rejected one's its coarse pose.
Verification's time is the run's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

from gscpr.bench.scene_scale import SUCCESS
from gscpr.calibration import expected_calibration_error


def rescored(queries: list[dict], model: Path) -> list[dict]:
    """``queries`` (bench ``per_query`` records) as ``model`` would have decided them (see the module docstring).
    Raises ``ValueError`` for a solved query whose record keeps no verification features, or not those the model
    reads."""
    from gscpr.refine.verify import load_confidence_model

    out = []
    for q in queries:
        if q.get("solved") is None or q.get("confidence") is None or "intrinsics" in q.get("message", ""):
            out.append(q)
            continue
        if not q.get("verify"):
            raise ValueError(f"query {q['name']} has no verification features (bench.json written before they were)")
        m = load_confidence_model(q["verify"]["variant"], str(model))
        missing = [f for f in m.features if f not in q["verify"]]
        if missing:
            raise ValueError(f"query {q['name']} has no {', '.join(missing)} (recorded before the model read it)")
        p = m.predict({f: q["verify"][f] for f in m.features})
        accepted = p >= float(m.fit["threshold"])
        out.append({**q, "confidence": p, "status": "refined" if accepted else "unverified",
                    "after": q["solved"] if accepted else q["before"]})  # fmt: skip
    return out


def run_row(scene: str, distance: float, run: dict, model: Path | None = None) -> dict:
    """The trust numbers of one bench run (its ``per_query`` records; decided again by ``model`` if given)."""

    def ok(err) -> bool:
        return err is not None and err[0] < SUCCESS[0] and err[1] < SUCCESS[1] * distance

    queries = rescored(run["per_query"], model) if model is not None else run["per_query"]
    accepted = [q["status"] == "refined" for q in queries]
    out_ok = [ok(q["after"]) for q in queries]
    solved_ok = [ok(q.get("solved")) for q in queries]  # no pose solved: not a success either way
    # Without verification every solved pose would be the output; a query with none keeps its coarse pose.
    plain_ok = [ok(q.get("solved")) if q.get("solved") is not None else ok(q["after"]) for q in queries]
    conf = [(q["confidence"], s) for q, s in zip(queries, solved_ok, strict=True)
            if q.get("confidence") is not None and q.get("solved") is not None]  # fmt: skip
    ms = run.get("ms") or {}
    n_acc = sum(accepted)
    return {
        "scene": scene, "protocol": run["protocol"], "matcher": run["matcher"], "solver": run["solver"],
        "queries": len(queries), "accepted": n_acc,
        "accepted_wrong": sum(a and not o for a, o in zip(accepted, out_ok, strict=True)),
        "accepted_wrong_names": [q["name"] for q, a, o in zip(queries, accepted, out_ok, strict=True) if a and not o],
        "rejected_right": sum(not a and s for a, s in zip(accepted, solved_ok, strict=True)),
        "success": float(np.mean(out_ok)), "success_without_verification": float(np.mean(plain_ok)),
        "precision": sum(a and o for a, o in zip(accepted, out_ok, strict=True)) / n_acc if n_acc else None,
        "recall": (sum(a and s for a, s in zip(accepted, solved_ok, strict=True)) / sum(solved_ok)
                   if any(solved_ok) else None),
        "ece": expected_calibration_error(*zip(*conf, strict=True)) if conf else None,
        "confidences": conf,
        "ms_verify": ms.get("verify"), "ms_total": run.get("ms_total"),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path, help="bench.json / accuracy_<scene>_<gpu>_<date>.json files")
    p.add_argument("--out", type=Path, help="write <out>.json and <out>.md")
    p.add_argument("--model", type=Path, help="decide again with this confidence.json (fit_confidence.py's)")
    args = p.parse_args()
    rows, devices = [], set()
    for f in args.files:
        try:
            result = json.loads(f.read_text(encoding="utf-8"))
            devices.add(result.get("device", "?"))
            scene, distance = result["scene"], float(result["scene_distance"])
            as_run = [run_row(scene, distance, r) for r in result["runs"]]  # also checks it is a bench result
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"trust.py: error: {f}: not a gscpr bench result ({type(e).__name__}: {e})", file=sys.stderr)
            sys.exit(2)
        if args.model is None:
            rows += as_run
            continue
        try:  # the same runs, decided again
            rows += [run_row(scene, distance, r, args.model) for r in result["runs"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"trust.py: error: {f}: cannot decide again with {args.model} ({type(e).__name__}: {e})",
                  file=sys.stderr)  # fmt: skip
            sys.exit(2)
    scenes = sorted({r["scene"] for r in rows})
    pooled = {}
    for s in scenes:
        conf = [c for r in rows if r["scene"] == s for c in r["confidences"]]
        pooled[s] = expected_calibration_error(*zip(*conf, strict=True)) if conf else None
    shares = [r["ms_verify"] / r["ms_total"] for r in rows if r["ms_verify"] is not None and r["ms_total"]]
    total = {
        "queries": sum(r["queries"] for r in rows),
        "accepted": sum(r["accepted"] for r in rows),
        "accepted_wrong": sum(r["accepted_wrong"] for r in rows),
        "rejected_right": sum(r["rejected_right"] for r in rows),
        "largest_success_drop_points": max(100 * (r["success_without_verification"] - r["success"]) for r in rows),
        "ece_per_scene": pooled,
        "verify_share_median": float(np.median(shares)) if shares else None,
        "verify_share_max": float(np.max(shares)) if shares else None,
    }
    for r in rows:
        r.pop("confidences")
    result = {"benchmark": "trust", "devices": sorted(devices), "date": datetime.date.today().isoformat(),
              "files": [str(f) for f in args.files], "model": str(args.model) if args.model else None,
              "total": total, "rows": rows}  # fmt: skip
    print(json.dumps(result["total"]))

    def pct(v) -> str:
        return "–" if v is None else f"{100 * v:.1f} %"

    lines = [
        f"Over {total['queries']} queries ({', '.join(sorted(devices))}): {total['accepted']} accepted, "
        f"**{total['accepted_wrong']} accepted wrong**, {total['rejected_right']} right solved poses rejected; "
        f"largest success drop {total['largest_success_drop_points']:.1f} points; ECE pooled per scene: "
        + ", ".join(f"{s} {e:.3f}" if e is not None else f"{s} –" for s, e in pooled.items())
        + (f"; verification {100 * total['verify_share_median']:.0f} % of a query's median time (median over runs, "
           f"largest {100 * total['verify_share_max']:.0f} %)" if shares else ""),
        "",
        "| scene | protocol | matcher | solver | queries | accepted | accepted wrong | right rejected | success "
        "| without verification | precision | recall | ECE | verify ms / query ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        wrong = str(r["accepted_wrong"]) + (f" ({', '.join(r['accepted_wrong_names'])})" if r["accepted_wrong"] else "")
        ece = "–" if r["ece"] is None else f"{r['ece']:.3f}"
        timing = (f"{r['ms_verify']:.1f} / {r['ms_total']:.1f}" if r["ms_verify"] is not None and r["ms_total"]
                  else "–")  # fmt: skip
        lines.append(
            f"| {r['scene']} | {r['protocol']} | {r['matcher']} | {r['solver']} | {r['queries']} | {r['accepted']} "
            f"| {wrong} | {r['rejected_right']} | {pct(r['success'])} | {pct(r['success_without_verification'])} "
            f"| {pct(r['precision'])} | {pct(r['recall'])} | {ece} "
            f"| {timing} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(table + "\n")


if __name__ == "__main__":
    main()
