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


def test_a_refit_model_decides_the_same_runs_again_from_the_features_they_keep(tmp_path):
    """--model: each solved query scored again from its record's features; a model that trusts ncc accepts the
    query whose render agreed (c) and rejects the one whose did not (b); records without features are refused."""
    from gscpr.refine.verify import ConfidenceModel

    bench = _bench(tmp_path)
    result = json.loads(bench.read_text())
    nccs = {"a": 0.9, "b": 0.1, "c": 0.8, "d": 0.05}
    for q in result["runs"][0]["per_query"]:
        q["before"] = [9.0, 0.5]
        if q["name"] in nccs:
            q["verify"] = {"variant": "render", "ncc": nccs[q["name"]]}
    bench.write_text(json.dumps(result))
    model = ConfidenceModel(("ncc",), (0.5,), (0.1,), (3.0,), 0.0, {"threshold": 0.6})
    path = tmp_path / "confidence.json"
    path.write_text(json.dumps({"variants": {"render": model.to_json()}}))
    out = tmp_path / "trust"
    p = _run(bench, "--model", path, "--out", out)
    assert p.returncode == 0, p.stderr
    row = json.loads(out.with_suffix(".json").read_text())["rows"][0]
    assert row["accepted"] == 2 and row["accepted_wrong"] == 0 and row["rejected_right"] == 0  # a, c accepted
    assert row["success"] == 0.4  # a and c's solved poses; b, d, e their (wrong) coarse poses
    del result["runs"][0]["per_query"][0]["verify"]
    bench.write_text(json.dumps(result))
    p = _run(bench, "--model", path)
    assert p.returncode == 2 and "cannot decide again" in p.stderr and "no verification features" in p.stderr
    assert "Traceback" not in p.stderr


def test_a_model_file_that_cannot_decide_or_records_without_its_features_are_one_line(tmp_path):
    """--model: a file that is no confidence.json (any JSON), or one whose model reads a feature the records lack
    (bench.json written before it was recorded): one error line naming both files, exit 2, no traceback."""
    from gscpr.refine.verify import ConfidenceModel

    bench = _bench(tmp_path)
    result = json.loads(bench.read_text())
    for q in result["runs"][0]["per_query"]:
        q["before"] = [9.0, 0.5]
        q["verify"] = {"variant": "render", "ncc": 0.9}
    bench.write_text(json.dumps(result))
    model = tmp_path / "confidence.json"
    for text in ("[1, 2]", "{}", "not json", json.dumps({"variants": {"render": {"features": ["ncc"]}}})):
        model.write_text(text)
        p = _run(bench, "--model", model)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert p.stderr.count("\n") == 1 and "bench.json: cannot decide again with" in p.stderr
        assert str(model) in p.stderr
    spread = ConfidenceModel(("ncc", "ncc_spread"), (0.5, 0.1), (0.1, 0.1), (3.0, -3.0), 0.0, {"threshold": 0.5})
    model.write_text(json.dumps({"variants": {"render": spread.to_json()}}))
    p = _run(bench, "--model", model)
    assert p.returncode == 2 and "query a has no ncc_spread" in p.stderr and "Traceback" not in p.stderr
