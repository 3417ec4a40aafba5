"""gscpr eval on the original's shipped coarse poses against the SfM pGT, checked against an independent
computation written here from the raw text files (plain numpy, no gscpr code)."""

import json

import numpy as np
import pytest

from gscpr.cli import main

SCENES = {
    "7scenes": ["chess", "fire", "heads", "office", "pumpkin", "redkitchen", "stairs"],
    "12scenes": [
        "apt1_kitchen", "apt1_living", "apt2_bed", "apt2_kitchen", "apt2_living", "apt2_luke",
        "office1_gates362", "office1_gates381", "office1_lounge", "office1_manolis", "office2_5a", "office2_5b",
    ],
}  # fmt: skip
ESTIMATORS = {"7scenes": ["ace", "glace", "marepo", "dfnet"], "12scenes": ["ace", "glace", "marepo"]}
CASES = [(ds, est) for ds in SCENES for est in ESTIMATORS[ds]]


def raw_table(path):
    """name -> (R (3x3) of w2c, camera centre, extra columns) parsed by hand."""
    out = {}
    for line in path.read_text().splitlines():
        tok = line.split()
        if not tok:
            continue
        w, x, y, z = (float(v) for v in tok[1:5])
        n = (w * w + x * x + y * y + z * z) ** 0.5
        w, x, y, z = w / n, x / n, y / n, z / n
        R = np.array(
            [
                [w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)],
                [2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)],
                [2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z],
            ]
        )
        t = np.array([float(v) for v in tok[5:8]])
        out[tok[0]] = (R, -R.T @ t, [float(v) for v in tok[8:]])
    return out


def key(name):
    # 7-Scenes: seq-03/frame-... == seq-03-frame-...; 12-Scenes: data/frame-... == frame-...
    return name.removeprefix("data/").replace("/", "-")


def independent(dataset, estimator, scene, coarse_dir, pgt_dir):
    prefix = "7Scenes_pgt/poses_pgt_7scenes_" if dataset == "7scenes" else "12Scenes_pgt/poses_pgt_12scenes_"
    est = raw_table(coarse_dir / estimator / f"{prefix}{scene}_.txt")
    gt = {key(k): v for k, v in raw_table(pgt_dir / dataset / f"{scene}_test.txt").items()}
    r_err, t_err, own = [], [], []
    for name, (R, c, extra) in est.items():
        Rg, cg, _ = gt[key(name)]
        cos = np.clip((np.trace(R @ Rg.T) - 1) / 2, -1, 1)
        r_err.append(np.degrees(np.arccos(cos)))
        t_err.append(np.linalg.norm(c - cg))
        own.append(extra[:2])
    r_err, t_err = np.array(r_err), np.array(t_err)
    n_gt = len(gt)
    rates = {
        label: 100.0 * np.sum((t_err < t) & (r_err < r)) / n_gt
        for label, t, r in [("10cm/5deg", 0.1, 5), ("5cm/5deg", 0.05, 5), ("2cm/2deg", 0.02, 2), ("1cm/1deg", 0.01, 1)]
    }
    return r_err, t_err, rates, np.array(own), n_gt - len(est)


@pytest.mark.parametrize("dataset,estimator", CASES)
def test_initial_accuracy_of_every_estimator_and_scene(dataset, estimator, shared_data, tmp_path, capsys):
    coarse_dir = shared_data("gscpr_coarse_poses", "coarse_poses")
    pgt_dir = shared_data("visloc_pgt", "pgt", "sfm")
    out = tmp_path / "r.json"
    args = ["eval", "--dataset", dataset, "--estimator", estimator, "--test_all", "--coarse-dir", str(coarse_dir)]
    args += ["--pgt-dir", str(pgt_dir), "--json", str(out), "--log-dir", str(tmp_path / "logs")]
    assert main(args) == 0
    table = capsys.readouterr().out
    results = json.loads(out.read_text())["initial"]
    assert [r["scene"] for r in results] == SCENES[dataset]
    averages = []
    for res in results:
        r_err, t_err, rates, own, missing = independent(dataset, estimator, res["scene"], coarse_dir, pgt_dir)
        assert res["n_missing"] == missing
        assert res["rates"] == rates
        assert res["median_r"] == pytest.approx(np.median(r_err), rel=1e-6, abs=1e-9)
        assert res["median_t"] == pytest.approx(np.median(t_err), rel=1e-6, abs=1e-12)
        assert res["mean_r"] == pytest.approx(np.mean(r_err), rel=1e-6)
        assert res["mean_t"] == pytest.approx(np.mean(t_err), rel=1e-6)
        if estimator in ("ace", "glace"):
            # Their files carry their own errors against the same pGT (degrees, metres).
            np.testing.assert_allclose(res["r_err"], own[:, 0], atol=1e-4)
            np.testing.assert_allclose(res["t_err"], own[:, 1], atol=1e-4)
        assert (tmp_path / "logs" / f"logs_{res['scene']}.log").read_text().count(f"GS-CPR for {estimator}:") == 1
        averages.append(rates["5cm/5deg"])
    assert f"| Average | {sum(r['n'] + r['n_missing'] for r in results)} |" in table
    print(f"{dataset} {estimator}: average 5cm/5deg {np.mean(averages):.1f} %")
