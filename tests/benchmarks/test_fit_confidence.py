"""benchmarks/fit_confidence.py on the CPU: collect a few generated queries (the relative variant too) and check
the packaged model's calibration on them."""

import json

from .fixtures import run_script


def _run(*args):
    return run_script("fit_confidence.py", *args)


def test_collect_the_relative_variant_and_check_the_packaged_model_on_it(tmp_path):
    data = tmp_path / "relative.jsonl"
    p = _run("collect", "--out", data, "--cases", "room", "--views", "2", "--protocols", "coarse-dfnet",
             "--device", "cpu", "--relative")  # fmt: skip
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert rows and all(r["relative"] and r["solver"] == "essential" and r["case"] == "room" for r in rows)
    assert all(r["reproj"] == 0.0 and "focal_log_ratio" in r and "ncc_spread" in r for r in rows)
    p = _run("check", data)
    assert p.returncode == 0, p.stderr
    assert f"| room | {len(rows)} |" in p.stdout and f"| all | {len(rows)} |" in p.stdout
