"""benchmarks/paper_path.py (the paper's path timed per stage, the GPU job's ``paper`` step) run end to end on
the CPU with the small test network (``--tiny``) and the real mast3r code; skips without it."""

import json

import pytest
import torch

from .fixtures import load_script


@pytest.fixture(scope="module")
def paper_path():
    return load_script("paper_path.py")


@pytest.fixture
def one_thread():
    """One torch thread (the script's ``--threads 1``; a crowded CPU runs the small network 10x faster so),
    restored afterwards."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_tiny_run_times_every_stage_and_compares_amp_matches(paper_path, mast3r_code, one_thread, tmp_path, capsys):
    out = tmp_path / "paper_path.json"
    args = ["--tiny", "--device", "cpu", "--threads", "1", "--max-size", "128", "--splats-per-side", "6",
            "--queries", "1", "--warmup", "0", "--agreement-pairs", "1", "--recipe", "paper", "gscpr",
            "--variants", "base", "amp", "--workers", "2", "--out", str(out)]  # fmt: skip
    result = paper_path.main(args)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert result["architecture"] == "tiny" and result["weights"] == "random" and result["parameters"] > 10**6
    assert result["resolution"] == "640x480" and result["failed"] == {}
    rows = {(r["recipe"], r["variant"]): r for r in result["rows"]}
    assert set(rows) == {("paper", "base"), ("paper", "amp"), ("gscpr", "base"), ("gscpr", "amp")}
    # each recipe's matcher options, as the paper scripts set them (recipes.matcher_options), and the variant's
    assert rows["paper", "base"]["options"] == {"resize": "pil", "keypoints": "original", "nn": "gscpr", "amp": False,
                                                "tf32": False, "cuda_graphs": True, "compiled": False}  # fmt: skip
    assert rows["gscpr", "amp"]["options"] == {"resize": "torch", "keypoints": "exact", "nn": "gscpr", "amp": True,
                                               "tf32": False, "cuda_graphs": True, "compiled": False}  # fmt: skip
    for r in rows.values():
        ms = r["ms"]
        assert set(ms) == set(paper_path.STAGES)
        assert ms["network"] > 0 and ms["nn"] > 0 and ms["render"] > 0 and ms["pnp"] > 0
        # the wall time of the query holds its stages
        assert ms["total"] >= 0.95 * sum(v for k, v in ms.items() if k != "total")
        assert sum(r["statuses"].values()) == 1 and r["matches_median"] > 0
        assert 0.0 <= r["same_matches"] <= 1.0 and r["agreement_pairs"] == 1
    # fp32 against itself is deterministic on the CPU; the paper recipe has no sub-pixel step, gscpr's has
    assert rows["paper", "base"]["same_matches"] == rows["gscpr", "base"]["same_matches"] == 1.0
    assert rows["paper", "base"]["ms"]["subpixel"] < 1.0 < rows["gscpr", "base"]["ms"]["subpixel"]
    # --workers: each recipe's base matcher, the query refined in a pool of 2 threads
    assert [(t["recipe"], t["variant"], t["workers"]) for t in result["throughput"]] == [
        ("paper", "base", 2), ("gscpr", "base", 2)]  # fmt: skip
    for t in result["throughput"]:
        assert sum(t["statuses"].values()) == 1 and t["ms_per_query"] > 0 and t["pnp_ms_median"] > 0
    table = capsys.readouterr().out
    assert "| recipe | variant | workers | ms per query |" in table and "--recipe paper --workers 2:" in table
    assert "| recipe | variant | render | network | NN |" in table and "| GS-CPR paper (RTX 4090) |" in table
    assert "--recipe paper, fastest variant" in table and "(target < 60 ms: not met)" in table


def test_a_missing_checkpoint_is_one_line(paper_path, mast3r_code, tmp_path):
    with pytest.raises(SystemExit) as e:
        paper_path.main(["--checkpoint", str(tmp_path / "nope.pth"), "--device", "cpu"])
    assert str(e.value).startswith("paper_path.py: MASt3R checkpoint") and "nope.pth: no such file" in str(e.value)
    assert "\n" not in str(e.value)
