"""benchmarks/trust.py: what verification is worth over bench results, from generated bench.json files."""

import json
from pathlib import Path

from .fixtures import run_script


def _query(name, status, after, solved, confidence):
    return {"name": name, "status": status, "after": after, "solved": solved, "confidence": confidence}


def _bench(tmp_path: Path) -> Path:
    """One scene (distance 2: 5 % is 0.1) and one run: a right refined query, a wrong refined one, a right one
    rejected (coarse pose kept, itself right too), a wrong one rejected (coarse kept, wrong) and one unsolved."""
    queries = [
        _query("a", "refined", [0.1, 0.01], [0.1, 0.01], 0.99),
        _query("b", "refined", [6.0, 0.01], [6.0, 0.01], 0.9),
        _query("c", "unverified", [1.0, 0.05], [0.2, 0.01], 0.2),
        _query("d", "unverified", [9.0, 0.5], [20.0, 1.0], 0.05),
        _query("e", "pnp_failed", [9.0, 0.5], None, None),
    ]
    run = {"protocol": "p", "matcher": "xfeat", "solver": "poselib", "per_query": queries,
           "ms": {"verify": 2.0}, "ms_total": 10.0}  # fmt: skip
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"scene": "s", "scene_distance": 2.0, "device": "cpu", "runs": [run]}))
    return path


def _run(*args):
    return run_script("trust.py", *args)


def test_counts_accepted_wrong_poses_the_success_cost_and_the_time_share(tmp_path):
    out = tmp_path / "trust"
    p = _run(_bench(tmp_path), "--out", out)
    assert p.returncode == 0, p.stderr
    row = json.loads(out.with_suffix(".json").read_text())["rows"][0]
    assert row["accepted"] == 2 and row["accepted_wrong"] == 1 and row["accepted_wrong_names"] == ["b"]
    assert row["rejected_right"] == 1  # c's solved pose was right
    assert row["success"] == 0.4 and row["success_without_verification"] == 0.4  # a, c (coarse right) / a, c
    assert row["precision"] == 0.5 and row["recall"] == 0.5
    assert 0 <= row["ece"] <= 1
    table = out.with_suffix(".md").read_text()
    assert "**1 accepted wrong**" in table and "| 1 (b) |" in table and "2.0 / 10.0" in table


def test_a_file_that_is_not_a_bench_result_is_named_in_one_line(tmp_path):
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"rows": []}))
    p = _run(bad)
    assert p.returncode == 2 and "other.json: not a gscpr bench result" in p.stderr and "Traceback" not in p.stderr
