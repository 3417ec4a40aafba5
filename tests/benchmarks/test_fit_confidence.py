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


def _rows(n: int = 40, relative: bool = False) -> list[dict]:
    """Rows as collect writes them: every feature, the outcome following ncc."""
    from gscpr.refine.verify import FEATURES

    return [{"case": "room", "scene": "room", "relative": relative, "name": f"q_{i}", "ok": i % 2 == 0,
             **dict.fromkeys(FEATURES, 0.0), "ncc": 0.9 if i % 2 == 0 else 0.1} for i in range(n)]  # fmt: skip


def _error(capsys, *argv) -> str:
    """fit_confidence.py run in this process with ``argv``: it must exit 2 with one error line, last; that line."""
    import pytest

    from .fixtures import load_script

    with pytest.raises(SystemExit) as e:
        load_script("fit_confidence.py").main([str(a) for a in argv])
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert e.value.code == 2 and last.startswith("fit_confidence.py: error: ") and err.count("error:") == 1, err
    return last


def test_unreadable_or_malformed_data_is_one_error_line_naming_the_file_and_line(tmp_path, capsys):
    import gzip

    good = "".join(json.dumps(r) + "\n" for r in _rows(3))
    files = {
        "missing.jsonl": None,
        "empty.jsonl": "",
        "text.jsonl": good + "not json\n",
        "list.jsonl": good + "[1, 2]\n",
        "keyless.jsonl": '{"case": "room"}\n',
    }
    for name, text in files.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    (tmp_path / "fake.jsonl.gz").write_text(good)  # not gzipped
    with gzip.open(tmp_path / "cut.jsonl.gz", "wt") as f:
        f.write(good)
    (tmp_path / "cut.jsonl.gz").write_bytes((tmp_path / "cut.jsonl.gz").read_bytes()[:-12])  # truncated
    for command in ("fit", "check"):
        assert "missing.jsonl: cannot be read" in _error(capsys, command, tmp_path / "missing.jsonl")
        assert "empty.jsonl: no records" in _error(capsys, command, tmp_path / "empty.jsonl")
        assert "text.jsonl:4: not a JSON line" in _error(capsys, command, tmp_path / "text.jsonl")
        assert "list.jsonl:4: not a row of fit_confidence.py collect" in _error(
            capsys, command, tmp_path / "list.jsonl"
        )
        assert "keyless.jsonl:1: not a row" in _error(capsys, command, tmp_path / "keyless.jsonl")
        assert "fake.jsonl.gz: cannot be read" in _error(capsys, command, tmp_path / "fake.jsonl.gz")
        assert "cut.jsonl.gz: cannot be read" in _error(capsys, command, tmp_path / "cut.jsonl.gz")


def test_fit_refuses_a_misspelt_leave_out_an_unusable_write_file_and_data_it_cannot_fit(tmp_path, capsys):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    assert "--leave-out rom: no such case" in _error(capsys, "fit", data, "--leave-out", "rom")
    bad = tmp_path / "confidence.json"
    bad.write_text("[]")
    assert "confidence.json: not a confidence.json to write into" in _error(capsys, "fit", data, "--write", bad)
    one = tmp_path / "one.jsonl"  # every row right: no variant has both outcomes
    one.write_text("".join(json.dumps({**r, "ok": True}) + "\n" for r in _rows()))
    assert "nothing written" in _error(capsys, "fit", one, "--write", tmp_path / "new.json")
    assert not (tmp_path / "new.json").exists()


def test_fit_says_which_variants_it_leaves_as_the_written_file_has_them(tmp_path, capsys):
    """Only relative rows: the relative models are fit; the absolute ones are not, and stderr says whether the
    file written keeps one (its own) or has none."""
    from .fixtures import load_script

    data = tmp_path / "relative.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows(relative=True)))
    out = tmp_path / "confidence.json"
    fit = load_script("fit_confidence.py")
    fit.main(["fit", str(data), "--write", str(out)])
    assert set(json.loads(out.read_text())["variants"]) == {"relative", "relative_no_render"}
    assert f"render: no rows with both outcomes to fit on (none in {out})" in capsys.readouterr().err
    absolute = tmp_path / "absolute.jsonl"
    absolute.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    fit.main(["fit", str(absolute), "--write", str(out)])
    assert set(json.loads(out.read_text())["variants"]) == {"render", "no_render", "relative", "relative_no_render"}
    assert f"relative: no rows with both outcomes to fit on ({out} keeps the one it has)" in capsys.readouterr().err


def test_check_without_a_row_the_model_can_score_is_one_error_line(tmp_path, capsys):
    """Rows collected before a feature the packaged models read (ncc_spread) are left out; if none is left, say so."""
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "ncc_spread"}) + "\n" for r in _rows()))
    err = _error(capsys, "check", old)
    assert "no row has every feature its model reads" in err
