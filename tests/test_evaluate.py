import json

import numpy as np
import pytest

from gscpr.cli import main
from gscpr.evaluate import (
    CAMBRIDGE_THRESHOLDS,
    average_results,
    evaluate_scene,
    format_table,
    load_ground_truth,
    within,
    write_log,
)
from gscpr.geometry import make_pose, perturb_pose, qvec_to_rotmat
from gscpr.poses import UnknownNameError, read_poses, write_poses


def gt_poses(n, seed=0, fmt="seq-01/frame-{:06d}.color.png"):
    rng = np.random.default_rng(seed)
    return {fmt.format(i): make_pose(qvec_to_rotmat(rng.normal(size=4)), rng.normal(size=3)) for i in range(n)}


def perturbed(gt, rot, trans, seed=0, rename=lambda n: n.replace("/", "-")):
    names = list(gt)
    P = perturb_pose(np.stack([gt[n] for n in names]), rot, trans, frame="world", rng=seed)
    return {rename(n): p for n, p in zip(names, P, strict=True)}


def test_within_is_strictly_below_both_thresholds():
    rot, trans = np.array([4.9, 5.0, 1.0, 1.0]), np.array([0.01, 0.01, 0.05, 0.049])
    np.testing.assert_array_equal(within(rot, trans, 5.0, 0.05), [True, False, False, True])
    assert within(0.0, 0.0, 5.0, 0.05).shape == () and not within(np.nan, 0.0, 5.0, 0.05)


def test_rates_are_strict_at_the_thresholds():
    names = [f"seq-01/frame-{i:06d}.color.png" for i in range(4)]
    gt = dict.fromkeys(names, np.eye(4))
    # A camera moved by exactly 5 cm is not within 5cm/5deg (the error is exact: identity rotation).
    pred = {
        names[0].replace("/", "-"): make_pose(np.eye(3), [-0.05, 0.0, 0.0]),
        names[1].replace("/", "-"): make_pose(np.eye(3), [0.0, -0.0499, 0.0]),
    }
    rot = perturbed({n: gt[n] for n in names[2:]}, np.array([5.0 + 1e-7, 5.0 - 1e-7]), 0.0)
    pred.update(rot)
    r = evaluate_scene(pred, gt, "s")
    assert r.t_err[0] == 0.05
    assert r.rates["5cm/5deg"] == 50.0  # items 1 and 3
    assert r.rates["10cm/5deg"] == 75.0
    assert r.rates["1cm/1deg"] == 0.0
    assert r.median_r == pytest.approx(2.5, rel=1e-6)
    assert r.mean_t == pytest.approx((0.05 + 0.0499) / 4)


def test_missing_predictions_count_as_failures():
    gt = gt_poses(10)
    pred = perturbed({k: gt[k] for k in list(gt)[:8]}, 0.1, 0.001)
    r = evaluate_scene(pred, gt, "s")
    assert (r.n, r.n_missing) == (8, 2)
    assert r.rates["1cm/1deg"] == 80.0
    assert "2 missing" in format_table([r])


def test_unknown_names_raise():
    gt = gt_poses(3)
    pred = perturbed(gt, 1.0, 0.01)
    pred["seq-09-frame-000000.color.png"] = np.eye(4)
    with pytest.raises(UnknownNameError, match="seq-09"):
        evaluate_scene(pred, gt, "s")


def test_dataset_average_is_the_mean_of_scenes_not_pooled():
    gt_a, gt_b = gt_poses(10, seed=1), gt_poses(2, seed=2)
    a = evaluate_scene(perturbed(gt_a, 0.1, 0.001), gt_a, "a")  # 100 %
    b = evaluate_scene(perturbed(gt_b, 9.0, 0.5), gt_b, "b")  # 0 %
    avg = average_results([a, b])
    assert avg.rates["1cm/1deg"] == 50.0  # pooled would be 10 / 12
    assert avg.median_r == pytest.approx((0.1 + 9.0) / 2)
    table = format_table([a, b])
    assert "| a |" in table and "| b |" in table and "| Average | 12 | 100.0 | 50.0 |" not in table
    assert "| Average |" in table


def test_thresholds_are_configurable():
    gt = gt_poses(5)
    r = evaluate_scene(perturbed(gt, 4.0, 0.3), gt, "s", thresholds=CAMBRIDGE_THRESHOLDS)
    assert list(r.rates) == ["50cm/5deg", "15cm/5deg", "10cm/5deg", "5cm/5deg", "2cm/2deg", "1cm/1deg"]
    assert r.rates["50cm/5deg"] == 100.0 and r.rates["15cm/5deg"] == 0.0


def test_log_format_matches_the_original(tmp_path):
    gt = gt_poses(4)
    ini = evaluate_scene(perturbed(gt, 3.0, 0.04), gt, "chess")
    ref = evaluate_scene(perturbed(gt, 0.5, 0.005), gt, "chess")
    write_log(tmp_path / "logs_chess.log", "chess", "ace", ini, ref)
    lines = (tmp_path / "logs_chess.log").read_text().splitlines()
    messages = [line.split(" - __main__ - INFO - ", 1)[1] for line in lines]
    assert messages[:5] == [
        "Ini Accuracy:",
        "\t10cm/5deg: 100.0%",
        "\t5cm/5deg: 100.0%",
        "\t2cm/2deg: 0.0%",
        "\t1cm/1deg: 0.0%",
    ]
    assert messages[5:10] == [
        "After refine Accuracy:",
        "\t10cm/5deg: 100.0%",
        "\t5cm/5deg: 100.0%",
        "\t2cm/2deg: 100.0%",
        "\t1cm/1deg: 100.0%",
    ]
    assert messages[10] == "--------------GS-CPR for ace:chess--------------"
    assert messages[11] == "Initial Precision:"
    t, r = messages[12].removeprefix("Median error ").removesuffix(" degrees.").split("m and ")
    assert float(t) == pytest.approx(0.04) and float(r) == pytest.approx(3.0)
    assert messages[14] == "After refine Precision:" and len(messages) == 17


def test_ground_truth_sources(tmp_path):
    gt = gt_poses(3)
    write_poses(tmp_path / "gt.txt", gt, fmt="pgt", focal=dict.fromkeys(gt, 525.0))
    assert set(load_ground_truth(tmp_path / "gt.txt")) == set(gt)
    with pytest.raises(FileNotFoundError, match="no such ground-truth"):
        load_ground_truth(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="not an ACE-layout scene"):
        load_ground_truth(tmp_path)


def _write_fixture(tmp_path, n=20):
    gt = gt_poses(n)
    write_poses(tmp_path / "gt.txt", gt, fmt="pgt", focal=dict.fromkeys(gt, 525.0))
    write_poses(tmp_path / "coarse.txt", perturbed(gt, 3.0, 0.04, seed=1))
    write_poses(tmp_path / "refined.txt", perturbed(gt, 0.2, 0.002, seed=2))
    return gt


def test_cli_single_file_before_after(tmp_path, capsys):
    _write_fixture(tmp_path)
    args = ["eval", "--poses", str(tmp_path / "refined.txt"), "--gt", str(tmp_path / "gt.txt")]
    args += ["--coarse", str(tmp_path / "coarse.txt"), "--scene", "chess", "--log", str(tmp_path / "logs_chess.log")]
    args += ["--json", str(tmp_path / "r.json")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| chess | 20 | 100.0 → 100.0 | 100.0 → 100.0 | 0.0 → 100.0 | 0.0 → 100.0 |" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["refined"][0]["rates"]["1cm/1deg"] == 100.0
    assert (tmp_path / "logs_chess.log").read_text().count("After refine") == 2


def test_cli_errors_exit_2_with_a_message(tmp_path, capsys):
    _write_fixture(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("seq-01-frame-000000.color.png 1 0 0 0 0 0\n")
    assert main(["eval", "--poses", str(bad), "--gt", str(tmp_path / "gt.txt")]) == 2
    assert f"{bad}:1: 6 number(s) after the name" in capsys.readouterr().err
    assert main(["eval", "--poses", str(tmp_path / "none.txt"), "--gt", str(tmp_path / "gt.txt")]) == 2
    assert "no such pose file" in capsys.readouterr().err


def test_cli_with_a_runs_records_gives_the_accepted_queries_precision_and_recall(tmp_path, capsys):
    """16 queries refined, 2 unverified whose solved pose was right (coarse pose kept: missed by recall), 1
    unverified with a wrong solved pose, 1 with no pose solved; the records beside the poses are found."""
    from gscpr.records import record_line, result_record
    from gscpr.refine import RefineResult, Status

    gt = _write_fixture(tmp_path)
    coarse, right = read_poses(tmp_path / "coarse.txt"), read_poses(tmp_path / "refined.txt")
    wrong = perturbed(gt, 10.0, 0.3, seed=3)
    names = list(right)
    results = [RefineResult(right[n], coarse[n], Status.REFINED, confidence=0.9) for n in names[:16]]
    results += [RefineResult(coarse[n], coarse[n], Status.UNVERIFIED, confidence=0.3, solved=right[n])
                for n in names[16:18]]  # fmt: skip
    results += [RefineResult(coarse[names[18]], coarse[names[18]], Status.UNVERIFIED, confidence=0.1,
                             solved=wrong[names[18]]),
                RefineResult.failed(coarse[names[19]], Status.TOO_FEW_MATCHES)]  # fmt: skip
    run = tmp_path / "run"
    run.mkdir()
    write_poses(run / "refined_poses.txt", {n: r.pose for n, r in zip(names, results, strict=True)})
    (run / "results.jsonl").write_text(
        "".join(record_line(result_record(n, r)) for n, r in zip(names, results, strict=True))
    )
    args = ["eval", "--poses", str(run / "refined_poses.txt"), "--gt", str(tmp_path / "gt.txt"), "--scene", "chess",
            "--json", str(tmp_path / "r.json")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "accepted (status refined): 16 of 20 queries (80.0 %)" in out
    assert "| chess | 16 | 100.0 | 100.0 | 100.0 | 100.0 |" in out  # the precision of refined at each threshold
    # Recall: 18 right solved poses at 1cm/1deg and 2cm/2deg; at 5cm/5deg the coarse poses kept are right too,
    # but recall asks about the solved ones: still 16 of 18.
    assert "recall of refined" in out and "1cm/1deg 88.9 %" in out and "5cm/5deg 88.9 %" in out
    assert "no confidence recorded" not in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["acceptance"]["accepted"] == 16 and data["acceptance"]["precision"]["5cm/5deg"] == 1.0
    assert data["accepted"]["n"] == 16
    # Records of a run without verification: the figures of the status, and a word that nothing was verified.
    lines = [record_line({**result_record(n, r), "confidence": None}) for n, r in zip(names, results, strict=True)]
    (run / "results.jsonl").write_text("".join(lines))
    assert main(args) == 0
    assert "no confidence recorded" in capsys.readouterr().out
    assert main([*args, "--records", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl: no such records file" in capsys.readouterr().err
    # The records of other poses: the coarse poses beside a run's records have no status of theirs.
    write_poses(run / "coarse.txt", coarse)
    assert main([*args[:2], str(run / "coarse.txt"), *args[3:]]) == 0
    assert "accepted" not in capsys.readouterr().out
    assert main([*args[:2], str(run / "coarse.txt"), *args[3:], "--records", str(run / "results.jsonl")]) == 2
    assert "the poses of 16 record(s) are not those of" in capsys.readouterr().err
    assert main([*args, "--records", str(tmp_path / "gt.txt")]) == 2  # a pose file, not records
    assert "gt.txt: no gscpr refine record in it" in capsys.readouterr().err
    other = {**json.loads(lines[0]), "name": "elsewhere/0.png"}
    (tmp_path / "other.jsonl").write_text(record_line(other))
    assert main([*args, "--records", str(tmp_path / "other.jsonl")]) == 2  # another run's records
    assert "no record names a query" in capsys.readouterr().err
    # Not a records file, or a record with no pose: one line naming the file, not a traceback.
    (tmp_path / "junk.jsonl").write_text("garbage{\n")
    assert main([*args, "--records", str(tmp_path / "junk.jsonl")]) == 2
    assert "junk.jsonl: no gscpr refine record in it" in capsys.readouterr().err
    name = names[0]
    (tmp_path / "bare.jsonl").write_text(record_line({"name": name, "status": "refined", "confidence": 0.9}))
    assert main([*args, "--records", str(tmp_path / "bare.jsonl")]) == 2
    assert f"bare.jsonl: the record of {name} has no pose" in capsys.readouterr().err
    (run / "results.jsonl").write_text("".join(lines[:-1]) + record_line(
        {**json.loads(lines[-1]), "status": "unverified", "solved_qvec": [1, 0, 0]}))  # fmt: skip
    assert main([*args, "--records", str(run / "results.jsonl")]) == 2
    assert "has a broken solved pose" in capsys.readouterr().err
    (run / "results.jsonl").write_text(
        "".join(lines[:-1]) + record_line({**json.loads(lines[-1]), "confidence": "high"})
    )
    assert main([*args, "--records", str(run / "results.jsonl")]) == 2
    assert "has confidence 'high'; expected a number in [0, 1] or null" in capsys.readouterr().err
