"""The record store: one JSON line per query, torn lines survived, statuses and stage times summarised once."""

import json

import numpy as np

from gscpr.geometry import make_pose
from gscpr.records import (
    json_safe,
    merge_records,
    open_record_log,
    poses_from_records,
    read_records,
    record_line,
    result_record,
    solved_pose,
    stage_medians,
    status_counts,
)
from gscpr.refine import STAGES, RefineResult, Status


def test_a_record_holds_the_status_value_the_confirmation_and_the_pose(tmp_path):
    pose = make_pose(np.eye(3), [1.0, 2.0, 3.0])
    message = "pass 2, at the refined pose: too_few_matches"
    r = RefineResult(pose, np.eye(4), Status.REFINED, num_inliers=40, confirmed=False,
                     timings=dict.fromkeys(STAGES, 0.01), message=message)  # fmt: skip
    rec = json.loads(json.dumps(result_record("a/b.png", r)))
    assert rec["status"] == "refined" and rec["confirmed"] is False and rec["num_inliers"] == 40
    np.testing.assert_allclose(poses_from_records({"a/b.png": rec}, ["a/b.png", "missing"])["a/b.png"], pose)
    assert f"{Status.TOO_FEW_MATCHES}" == "too_few_matches" and Status("pnp_failed") is Status.PNP_FAILED


def test_an_unverified_record_keeps_the_coarse_pose_and_the_solved_one_beside_it():
    coarse, solved = np.eye(4), make_pose(np.eye(3), [0.5, 0.0, 0.0])
    kept = RefineResult(coarse, coarse, Status.UNVERIFIED, confidence=0.1, solved=solved)
    rec = json.loads(json.dumps(result_record("q", kept)))
    assert rec["confidence"] == 0.1 and "solved" not in rec  # the array is not in the summary, its qvec/tvec are
    np.testing.assert_allclose(poses_from_records({"q": rec}, ["q"])["q"], coarse)
    np.testing.assert_allclose(solved_pose(rec), solved)
    # Flagged with the refined pose kept (keep_unverified), or refined: the pose is the solved one.
    flagged = json.loads(json.dumps(result_record("q", RefineResult(solved, coarse, Status.UNVERIFIED))))
    assert "solved_qvec" not in flagged
    np.testing.assert_allclose(solved_pose(flagged), solved)
    np.testing.assert_allclose(solved_pose({**flagged, "status": "refined"}), solved)
    assert (
        solved_pose(json.loads(json.dumps(result_record("q", RefineResult.failed(coarse, Status.PNP_FAILED))))) is None
    )


def test_a_torn_last_line_is_skipped_and_ended_before_the_next_record(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({"name": "a", "status": "refined"}) + "\n" + '{"name": "b", "sta')
    assert list(read_records(path)) == ["a"]
    with open_record_log(path) as log:
        log.write(json.dumps({"name": "c", "status": "bad_input"}) + "\n")
    assert list(read_records(path)) == ["a", "c"]


def test_status_counts_and_stage_medians():
    records = [{"status": s, "timings": {"render": t, "pnp": 2 * t}} for s, t in
               [("refined", 0.001), ("refined", 0.003), ("too_few_matches", 0.002)]]  # fmt: skip
    assert status_counts(records) == {"refined": 2, "too_few_matches": 1}
    med = stage_medians(records)
    assert set(med) == {*STAGES, "total"}
    assert med["render"] == 0.002 and med["pnp"] == 0.004 and med["match"] == 0.0 and med["total"] == 0.006
    assert stage_medians([]) == {}


def test_digests_are_deterministic_and_round_away_float_noise():
    from gscpr.records import digest

    pose = make_pose(np.eye(3), [1.0, 2.0, 3.0])
    assert digest({"a": 1, "b": [pose]}) == digest({"b": [pose.tolist()], "a": 1})  # key order, array or list
    assert digest(pose) == digest(pose + 1e-15)  # a pose read back from a text file
    assert digest(pose) != digest(pose + 1e-6)
    assert len(digest(None)) == 16 and digest(None) != digest({})


def test_file_and_tree_identities_change_with_the_files(tmp_path):
    import os

    from gscpr.records import file_identity, tree_identity

    assert file_identity(tmp_path / "none") is None and tree_identity(tmp_path / "none") == []
    it = tmp_path / "m" / "point_cloud" / "iteration_10"
    it.mkdir(parents=True)
    (it / "point_cloud.ply").write_bytes(b"1234")
    (it / "color_mlp.pt").write_bytes(b"12")
    (tmp_path / "m" / "cfg_args").write_text("Namespace()")
    before = tree_identity(tmp_path / "m")
    assert [(i["path"].split("/")[-1], i["size"]) for i in before] == [("cfg_args", 11), ("color_mlp.pt", 2),
                                                                       ("point_cloud.ply", 4)]  # fmt: skip
    assert file_identity(it / "point_cloud.ply") == before[2] and tree_identity(it / "point_cloud.ply") == before[2:]
    (tmp_path / "m" / "refined").mkdir()  # what else lands in the folder does not count
    (tmp_path / "m" / "refined" / "results.jsonl").write_text("{}")
    (tmp_path / "m" / "train_log.csv").write_text("step")
    assert tree_identity(tmp_path / "m") == before
    os.utime(it / "color_mlp.pt", ns=(1, 1))
    assert tree_identity(tmp_path / "m") != before


def test_changed_parts_and_the_resume_message():
    from collections import Counter

    from gscpr.records import FINGERPRINT_PARTS, changed_parts, resume_message

    now = {p: "x" for p in FINGERPRINT_PARTS}
    assert changed_parts({"fingerprint": dict(now)}, now) == []
    assert changed_parts({"fingerprint": {**now, "options": "y", "coarse pose": "z"}}, now) == ["coarse pose",
                                                                                                 "options"]  # fmt: skip
    assert changed_parts({"name": "old"}, now) is None
    msg = resume_message(12, 40, Counter({"options": 9, "coarse pose": 3}))
    assert msg == "resume: 12 of 40 records redone: coarse pose changed for 3, options changed for 9"
    msg = resume_message(2, 2, Counter({None: 2}))
    assert msg == "resume: 2 of 2 records redone: no fingerprint (written by an older gscpr) for 2"
    assert resume_message(1, 1, Counter({"model": 1})) == "resume: 1 of 1 record redone: model changed for 1"


def _strict(text: str):
    """``json.loads`` as a standard JSON reader (jq, a browser): NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"not JSON: {c}")))


def test_records_are_standard_json_a_value_with_no_meaning_is_null(tmp_path):
    """A failed query has no reprojection error: null in results.jsonl, never NaN (invalid JSON)."""
    r = RefineResult.failed(np.eye(4), Status.TOO_FEW_MATCHES, "3 matches")
    rec = result_record("q.png", r)
    assert rec["reproj_error"] is None and rec["inlier_ratio"] == 0.0
    assert _strict(record_line({**rec, "x": [float("inf"), np.float32("nan"), 1.5]}))["x"] == [None, None, 1.5]
    assert json_safe({"a": (float("-inf"), {"b": np.float64(2.0)})}) == {"a": [None, {"b": 2.0}]}


def test_records_written_with_nan_by_older_versions_are_read_as_null_and_merged_as_json(tmp_path):
    old = '{"name": "a.png", "status": "too_few_matches", "reproj_error": NaN, "timings": {"render": NaN}}\n'
    (tmp_path / "results.jsonl").write_text(old + '{"name": "b.png", "reproj_error": Infinity}\n[1, 2]\n')
    records = read_records(tmp_path / "results.jsonl")
    assert records["a.png"]["reproj_error"] is None and records["b.png"]["reproj_error"] is None
    assert set(records) == {"a.png", "b.png"}  # a line that is no record is skipped, as a torn one
    assert stage_medians([records["a.png"]])["render"] == 0.0  # a null time counts as none
    merge_records(tmp_path, ["a.png", "b.png"])
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [_strict(x)["reproj_error"] for x in lines] == [None, None]
