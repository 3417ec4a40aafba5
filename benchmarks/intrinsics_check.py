"""The run-level intrinsics check on collected verification data: does it trip with a wrong focal length, and only then?

    python benchmarks/intrinsics_check.py benchmarks/results/confidence_data_h200_2026-11-30b.jsonl.gz

Reads the rows ``benchmarks/fit_confidence.py collect`` writes (one per solved query: its case, protocol, success
and verification record, with ``focal_log_ratio``) and, per case (a scene with its right intrinsics, or ``-focal``
with the focal length 20 % too long), applies :func:`gscpr.refine.intrinsics.focal_check` to the queries the
packaged confidence model accepts: over all of them, and over each protocol's (a run of the size a user makes).
Prints JSON lines, then a markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from gscpr.refine.intrinsics import focal_check
from gscpr.refine.verify import VARIANTS, load_confidence_model, variant_for


def read_rows(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", type=Path, help="fit_confidence.py collect output (.jsonl or .jsonl.gz)")
    args = p.parse_args()
    try:
        rows = [r for path in args.data for r in read_rows(path)]
    except (OSError, ValueError) as e:
        print(f"intrinsics_check.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    rows = [r for r in rows if r.get("focal_log_ratio") is not None]
    if not rows:
        print("intrinsics_check.py: error: no row has a focal_log_ratio (data collected before it was recorded)",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    models = {v: load_confidence_model(v) for v in VARIANTS}
    cases, skipped = defaultdict(list), 0
    for r in rows:
        m = models[variant_for(bool(r.get("relative")), r.get("variant", "render") in ("render", "relative"))]
        if not all(f in r for f in m.features):  # collected before a feature the model reads was recorded
            skipped += 1
            continue
        r["accepted"] = m.predict({f: 0.0 if r[f] is None else r[f] for f in m.features}) >= float(m.fit["threshold"])
        cases[r["case"]].append(r)
    if skipped:
        print(f"{skipped} rows left out: collected before a feature the packaged model reads was recorded",
              file=sys.stderr)  # fmt: skip
    if not cases:
        print("intrinsics_check.py: error: no row has every feature the packaged model reads (data collected "
              "before it was recorded)", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    out = []
    for case, rs in cases.items():
        acc = [r for r in rs if r["accepted"]]
        whole = focal_check([r["focal_log_ratio"] for r in acc])
        per = defaultdict(list)
        for r in acc:
            per[r["protocol"]].append(r["focal_log_ratio"])
        runs = [focal_check(v) for v in per.values()]
        row = {"case": case, "queries": len(rs), "right": float(np.mean([r["ok"] for r in rs])),
               "accepted": len(acc), **{f"all_{k}": v for k, v in whole.as_json().items()},
               "runs": len(runs), "run_queries_median": float(np.median([c.queries for c in runs])) if runs else 0,
               "runs_suspect": sum(c.suspect for c in runs)}  # fmt: skip
        out.append(row)
        print(json.dumps(row))
    print("\n| case | solved | right | accepted | median log(f_fit / f) | one sign | p | suspect | per protocol: "
          "queries, suspect |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in out:
        print(f"| {r['case']} | {r['queries']} | {100 * r['right']:.0f} % | {r['accepted']} | "
              f"{r['all_median_log_ratio']:+.4f} | {r['all_same_sign']} / {r['all_queries']} | "
              f"{r['all_p_value']:.1e} | {'**yes**' if r['all_suspect'] else 'no'} | "
              f"~{r['run_queries_median']:.0f}, {r['runs_suspect']} of {r['runs']} |")  # fmt: skip


if __name__ == "__main__":
    main()
