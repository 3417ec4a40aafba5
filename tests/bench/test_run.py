import json

import numpy as np
import pytest

from gscpr.bench import BenchConfig, bench
from gscpr.bench.run import DEFAULT_TRAIN_STEPS, summarize
from gscpr.bench.scene_scale import SUCCESS
from gscpr.camera import Camera
from gscpr.cli import main
from gscpr.data import DatasetError
from gscpr.evaluate import within
from gscpr.synthetic import textured_room, write_blender_scene, write_room_queries


def test_summary_counts_failures_by_cause():
    before = np.array([[10.0, 0.5], [10.0, 0.5], [10.0, 0.5]])
    after = np.array([[0.1, 0.001], [10.0, 0.5], [4.0, 0.04]])
    # The third: refined, but the next pass at the refined pose found no pose (a field, not the message's wording).
    outcomes = (("refined", None), ("too_few_matches", None), ("refined", False))
    recs = [{"status": s, "timings": {"render": 0.01}, "iterations": 1, "confirmed": c} for s, c in outcomes]
    s = summarize(before, after, 1.0, recs)
    assert s["unconfirmed"] == 1
    assert s["after"]["success"] == pytest.approx(2 / 3) and s["after"]["success_fine"] == pytest.approx(1 / 3)
    assert s["before"]["success"] == 0 and s["statuses"] == {"refined": 2, "too_few_matches": 1}
    assert s["ms"]["render"] == pytest.approx(10.0)


def test_summary_gives_accuracy_over_the_accepted_queries_precision_recall_and_calibration():
    gt = np.stack([np.eye(4)] * 4)
    before = np.full((4, 2), [10.0, 0.5])
    after = np.array([[0.1, 0.001], [8.0, 0.3], [10.0, 0.5], [10.0, 0.5]])  # the unverified kept the coarse pose
    solved = np.array([[0.1, 0.001], [8.0, 0.3], [0.2, 0.002], [np.nan, np.nan]])  # the third was right
    recs = [
        {"status": s, "timings": {}, "iterations": 1, "confidence": c}
        for s, c in (("refined", 0.95), ("refined", 0.7), ("unverified", 0.2), ("too_few_inliers", None))
    ]
    s = summarize(before, after, 1.0, recs, solved)
    assert s["after"]["success"] == 0.25 and s["after_accepted"]["success"] == 0.5
    assert s["after_accepted"]["median_rot_deg"] == pytest.approx(4.05)
    assert s["accepted"] == 2 and s["acceptance_rate"] == 0.5
    assert s["precision"] == 0.5 and s["recall"] == 0.5  # the right unverified pose is a missed one
    assert s["confidence_recorded"] == 3 and s["ece"] == pytest.approx((0.05 + 0.7 + 0.8) / 3)
    assert sum(b["count"] for b in s["reliability"]) == 3
    # Records of an older run (no confidence) or of no accepted query: said, not made up.
    old = [{k: v for k, v in r.items() if k != "confidence"} for r in recs[:2]] + [{**recs[3]}] * 2
    s = summarize(before, after, 1.0, old)
    assert s["confidence_recorded"] == 0 and s["ece"] is None and s["precision"] == 0.5
    none = summarize(before, after, 1.0, [{**recs[3]}] * 4)
    assert none["after_accepted"] is None and none["precision"] is None and none["recall"] is None
    from gscpr.bench.run import solved_errors

    rec = {"status": "unverified", "qvec": [1, 0, 0, 0], "tvec": [0, 0, 0], "solved_qvec": [1, 0, 0, 0],
           "solved_tvec": [0.3, 0, 0]}  # fmt: skip
    np.testing.assert_allclose(solved_errors([rec, recs[3]], gt[:2]), [[0.0, 0.3], [np.nan, np.nan]], atol=1e-9)


CAM = Camera.centered(200, 150, 170.0)


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    write_room_queries(root, CAM, 4, seed=3)
    out = root / "out"
    args = ["bench", "--data", str(root / "data"), "--model", str(root / "scene.ply"), "--out", str(out),
            "--protocols", "coarse-dfnet", "--matchers", "xfeat", "--solvers", "poselib", "paper",
            "--device", "cpu", "--scene", "room"]  # fmt: skip
    return root, out, args


def test_bench_command_refines_every_protocol_run_and_resumes(bench_dir, capsys):
    root, out, args = bench_dir
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| coarse-dfnet | xfeat | poselib |" in printed and "| coarse-dfnet | xfeat | paper |" in printed
    result = json.loads((out / "bench.json").read_text())
    assert result["scene"] == "room" and result["queries"] == 4 and len(result["runs"]) == 2
    assert result["protocols"]["coarse-dfnet"]["rotation"] == ["half-normal", 2.0, 0.0]
    runs = {r["solver"]: r for r in result["runs"]}
    assert runs["poselib"]["after"]["success"] == 1.0 and runs["poselib"]["after"]["median_rot_deg"] < 0.05
    # The original's EPnP-RANSAC is less precise (and can fail on these planar walls), but it must improve.
    assert runs["paper"]["after"]["median_rot_deg"] < 0.5 * runs["paper"]["before"]["median_rot_deg"]
    for run in result["runs"]:
        assert run["before"]["median_rot_deg"] > 0.5
        assert set(run["ms"]) == {"render", "match", "subpixel", "lift", "pnp", "verify"}
        assert len(run["per_query"]) == 4 and run["per_query"][0]["noise"]["rot_deg"] > 0
        assert run["confidence_recorded"] > 0 and 0 <= run["ece"] <= 1  # verification is on in the gscpr recipe
        for q in run["per_query"]:
            assert (q["confidence"] is None) == (q["solved"] is None)  # a solved pose has its confidence
            assert q["solved"] is None or "ncc_spread" in q["verify"]  # and its features, to score again
        run_dir = out / run["dir"]
        # Thumbnails: "ok" a refined query within the success threshold; "fail" any other (an unverified query
        # whose coarse pose is within it counts as a success, but its refinement failed).
        limit = (SUCCESS[0], SUCCESS[1] * result["scene_distance"])
        ok = [q["status"] == "refined" and within(*q["after"], *limit) for q in run["per_query"]]
        assert len(list((run_dir / "thumbs").glob("ok_*.jpg"))) == min(3, sum(ok))  # thumbnails_ok
        assert len(list((run_dir / "thumbs").glob("fail_*.jpg"))) == min(6, 4 - sum(ok))
        assert (run_dir / "refined_poses.txt").is_file() and (run_dir / "coarse_poses.txt").is_file()
    assert "success" in (out / "bench.md").read_text()
    # Resume: every run is complete, nothing is refined again.
    lines = (out / "runs" / "coarse-dfnet" / "xfeat_poselib" / "results.jsonl").read_text()
    assert main(args) == 0
    assert (out / "runs" / "coarse-dfnet" / "xfeat_poselib" / "results.jsonl").read_text() == lines


def test_command_defaults_are_the_python_api_defaults():
    from gscpr.cli import build_parser

    argv = ["bench", "--data", "d", "--out", "o"]
    args = build_parser(argv).parse_args(argv)
    d = BenchConfig()
    assert (tuple(args.protocols), tuple(args.matchers), tuple(args.solvers)) == (d.protocols, d.matchers, d.solvers)
    assert (args.iterations, args.ransac_px, args.seed, args.max_queries) == (d.iterations, d.ransac_px, d.seed, None)
    assert args.train_steps == DEFAULT_TRAIN_STEPS and args.model is None and args.scene is None


def test_bench_api_raises_what_the_command_reports(tmp_path):
    with pytest.raises(DatasetError, match="none: no such dataset folder"):
        bench(tmp_path / "none", tmp_path / "o", device="cpu")


def test_bench_reports_bad_arguments(tmp_path, capsys):
    assert main(["bench", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    assert "none: no such dataset folder" in capsys.readouterr().err


def test_bench_trains_a_model_when_none_is_given_and_reuses_it(tmp_path, capsys):
    box = textured_room(n_side=12, half=0.5)
    write_blender_scene(tmp_path / "data", box, n_train=4, n_test=1, width=40, focal=38.0)
    args = ["bench", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--train-steps", "20",
            "--protocols", "coarse-ace", "--matchers", "sift", "--solvers", "poselib", "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    ply = tmp_path / "out" / "model" / "point_cloud" / "iteration_20" / "point_cloud.ply"
    assert ply.is_file()
    assert json.loads((tmp_path / "out" / "bench.json").read_text())["model"] == str(ply)
    stamp = ply.stat().st_mtime_ns
    assert main(args) == 0
    assert ply.stat().st_mtime_ns == stamp  # reused, not trained again


def test_each_run_once_whatever_names_repeat_and_aliases_are_one_solver():
    cfg = BenchConfig(protocols=("coarse-ace", "coarse-ace"), matchers=("sift", "xfeat", "sift"),
                      solvers=("paper", "poselib", "opencv-epnp", "paper"))  # fmt: skip
    assert (cfg.protocols, cfg.matchers, cfg.solvers) == (("coarse-ace",), ("sift", "xfeat"), ("paper", "poselib"))
    with pytest.raises(ValueError, match="unknown pose solver 'epnp'; expected one of .*opencv-epnp"):
        BenchConfig(solvers=("epnp",))


def test_tables_show_a_missing_figure_as_a_dash():
    from gscpr.bench.tables import number

    assert number(None, ".1f") == "–" and number(float("nan"), ".1f") == "–" and number(0.123, ".1f", 100) == "12.3"
