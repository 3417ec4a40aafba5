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


def test_fit_writes_one_model_per_variant_each_on_its_own_rows(tmp_path):
    """Generated rows whose outcome follows ncc: every variant fit, none accepting at under 0.5, the relative
    ones without the absolute step's features; a left-out case is not fit on."""
    import numpy as np

    from gscpr.refine.verify import VARIANTS

    rng = np.random.default_rng(0)
    rows = []
    for i in range(400):
        ncc = float(rng.uniform(0, 1))
        feats = {f: float(rng.normal()) for f in VARIANTS["render"]} | {"ncc": ncc}
        case = ("room", "room-repeated", "ignored")[i % 3]
        rows.append({"case": case, "scene": "room", "relative": i % 2 == 1, "name": f"q_{i}",
                     "ok": bool(ncc + rng.normal(0, 0.1) > 0.4), **feats})  # fmt: skip
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "confidence.json"
    p = _run("fit", data, "--leave-out", "ignored", "--write", out)
    assert p.returncode == 0, p.stderr
    models = json.loads(out.read_text())["variants"]
    assert set(models) == set(VARIANTS)
    for v, m in models.items():
        assert m["features"] == list(VARIANTS[v]) and m["fit"]["threshold"] >= 0.5
        assert m["fit"]["cases"] == ["room", "room-repeated"]
        if "ncc" in m["features"]:  # the feature the outcome follows weighs most
            assert max(m["coef"], key=abs) == m["coef"][m["features"].index("ncc")]
    assert "reproj" not in models["relative"]["features"] and "ncc_spread" in models["relative"]["features"]
    assert "| render |" in p.stdout and "| relative_no_render |" in p.stdout
