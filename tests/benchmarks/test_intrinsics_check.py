"""benchmarks/intrinsics_check.py: the run-level intrinsics check over collected rows, generated here."""

import gzip
import json

import numpy as np

from gscpr.refine.verify import FEATURES, load_confidence_model

from .fixtures import run_script


def _rows(case: str, bias: float, n: int, seed: int) -> list[dict]:
    """``n`` rows of a case whose features the packaged model accepts (those of its fit's mean: a typical right
    pose) and whose focal fits scatter around ``bias``."""
    model = load_confidence_model("render")
    typical = dict(zip(model.features, model.mean, strict=True))
    rng = np.random.default_rng(seed)
    return [{"case": case, "protocol": f"p{i % 2}", "ok": bias == 0, "variant": "render",
             **{f: typical.get(f, 0.0) for f in FEATURES}, "focal_log_ratio": float(v)}
            for i, v in enumerate(rng.normal(bias, 0.01, n))]  # fmt: skip


def _run(*args):
    return run_script("intrinsics_check.py", *args)


def test_the_check_trips_on_the_wrong_focal_case_only(tmp_path):
    path = tmp_path / "data.jsonl.gz"
    with gzip.open(path, "wt") as f:
        for r in _rows("room", 0.0, 40, 0) + _rows("room-focal", -0.05, 40, 1):
            f.write(json.dumps(r) + "\n")
    p = _run(path)
    assert p.returncode == 0, p.stderr
    rows = {r["case"]: r for r in map(json.loads, p.stdout.splitlines()[:2])}
    assert not rows["room"]["all_suspect"] and rows["room-focal"]["all_suspect"]
    assert rows["room-focal"]["runs"] == 2 and rows["room-focal"]["runs_suspect"] == 2
    assert "| room-focal | 40 | 0 % | 40 | -0.04" in p.stdout and "**yes** | ~20, 2 of 2 |" in p.stdout


def test_data_without_focal_fits_is_refused_in_one_line(tmp_path):
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"case": "room", "ok": True}) + "\n")
    p = _run(path)
    assert p.returncode == 2 and "no row has a focal_log_ratio" in p.stderr and "Traceback" not in p.stderr


def test_rows_collected_before_a_feature_the_model_reads_are_left_out_and_said(tmp_path):
    """Rows without ncc_spread (collected before it was recorded, as confidence_data_h200_2026-11-30's) cannot be
    scored by the packaged model: left out with a count; with none left, one error line, no traceback."""
    path = tmp_path / "data.jsonl"
    old = [{k: v for k, v in r.items() if k != "ncc_spread"} for r in _rows("room", 0.0, 5, 2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    p = _run(path)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "5 rows left out" in p.stderr and "no row has every feature the packaged model reads" in p.stderr
    path.write_text("".join(json.dumps(r) + "\n" for r in old + _rows("room", 0.0, 12, 3)))
    p = _run(path)
    assert p.returncode == 0 and "5 rows left out" in p.stderr, p.stderr
    assert json.loads(p.stdout.splitlines()[0])["queries"] == 12
