import json

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.cli import main
from gscpr.geometry import perturb_pose, pose_errors
from gscpr.overlays import query_file_stem
from gscpr.poses import read_poses, write_poses
from gscpr.synthetic import write_room_queries

CAM = Camera.centered(240, 180, 200.0)


def refine_args(root, data=None) -> list[str]:
    """``gscpr refine`` on the fixture's model, query set (or ``data``) and coarse poses."""
    data = data or root / "data"
    return ["refine", "--model", str(root / "scene.ply"), "--data", str(data), "--poses", str(root / "coarse.txt")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A Blender-format query set rendered from a generated scene, its model and coarse poses."""
    root = tmp_path_factory.mktemp("refine")
    _, gt = write_room_queries(root, CAM, 4, seed=5)
    coarse = {n: perturb_pose(p, 2.0, 0.04, frame="world", rng=i) for i, (n, p) in enumerate(gt.items())}
    coarse["test/r_9.png"] = np.eye(4)  # a pose whose image does not exist
    write_poses(root / "coarse.txt", coarse)
    return root, gt, coarse


def test_refine_command_end_to_end_and_resume(workdir, capsys):
    root, gt, coarse = workdir
    out = root / "out"
    args = [*refine_args(root), "--out", str(out), "--device", "cpu", "--iterations", "2", "--overlays", "1"]
    args += ["--ransac-px", "1"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "refined 4" in captured.out and "no_image 1" in captured.out
    assert "1 coarse pose(s) have no image" in captured.err
    assert "| data |" in (out / "summary.md").read_text() and "→" in (out / "summary.md").read_text()
    refined = read_poses(out / "refined_poses.txt")
    assert set(refined) == set(coarse)
    np.testing.assert_array_equal(refined["test/r_9.png"], np.eye(4))  # kept as it was
    for name, pose in gt.items():
        rot, trans = pose_errors(refined[name], pose)
        assert rot < 0.1 and trans < 0.002
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(r["status"] == "refined" and r["num_inliers"] > 30 for r in records)
    assert set(records[0]["timings"]) == {"render", "match", "subpixel", "lift", "pnp", "verify"}
    assert len(list((out / "overlays").glob("*.jpg"))) == 1
    assert json.loads((out / "config.json").read_text())["refine"]["solver"] == "poselib"
    # Resume: nothing left to do, nothing appended.
    assert main(args) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 4


def test_a_corrupt_query_is_recorded_and_the_run_goes_on(workdir, tmp_path, capsys):
    root, _, _ = workdir
    import shutil

    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    (data / "test" / "r_1.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "out"
    args = refine_args(root, data)
    assert main([*args, "--out", str(out), "--device", "cpu", "--matcher", "sift"]) == 0
    records = {json.loads(x)["name"]: json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()}
    assert records["test/r_1.png"]["status"] == "bad_input"
    assert "r_1.png" in records["test/r_1.png"]["message"]
    assert sum(r["status"] == "refined" for r in records.values()) == 3


def test_bad_arguments_exit_2(workdir, tmp_path, capsys):
    root, _, _ = workdir
    args = [
        "refine",
        "--model",
        str(tmp_path / "none.ply"),
        "--data",
        str(root / "data"),
        "--poses",
        str(root / "coarse.txt"),
    ]
    assert main([*args, "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    assert "none.ply: no such" in capsys.readouterr().err


def test_batched_refinement_matches_one_by_one_and_survives_a_bad_query(workdir, tmp_path):
    """--batch-size refines the same poses as the query-by-query loop; a broken image in a batch is recorded
    as bad input and the rest of its batch is refined."""
    import shutil

    root, gt, _ = workdir
    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    (data / "test" / "r_2.png").write_bytes(b"\x89PNG broken")
    args = refine_args(root, data)
    args += ["--device", "cpu", "--ransac-px", "1", "--iterations", "2"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "batch"), "--batch-size", "3"]) == 0
    assert main([*args, "--out", str(tmp_path / "threads"), "--batch-size", "3", "--workers", "2"]) == 0
    poses = (tmp_path / "threads" / "refined_poses.txt").read_bytes()
    assert poses == (tmp_path / "batch" / "refined_poses.txt").read_bytes()  # PnP in threads: the same poses

    def records(out):
        lines = (tmp_path / out / "results.jsonl").read_text().splitlines()
        return {json.loads(x)["name"]: json.loads(x) for x in lines}

    one, batch = records("one"), records("batch")
    assert list(batch) == list(one)  # same queries, same order
    assert batch["test/r_2.png"]["status"] == "bad_input" and "r_2.png" in batch["test/r_2.png"]["message"]
    refined = read_poses(tmp_path / "batch" / "refined_poses.txt")
    for name in ("test/r_0.png", "test/r_1.png", "test/r_3.png"):
        assert batch[name]["status"] == "refined"
        rot, trans = pose_errors(refined[name], gt[name])
        assert rot < 0.1 and trans < 0.002
        assert abs(batch[name]["num_inliers"] - one[name]["num_inliers"]) <= 0.05 * one[name]["num_inliers"]


def test_worker_threads_refine_the_same_poses_in_the_same_order(workdir, tmp_path):
    """--workers 3: queries refined three at a time (device work taking turns, PnP in parallel) give the file a
    one-at-a-time run gives."""
    root, _, _ = workdir
    args = [*refine_args(root), "--device", "cpu", "--ransac-px", "1", "--iterations", "2", "--solver", "paper"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "three"), "--workers", "3"]) == 0
    poses = (tmp_path / "three" / "refined_poses.txt").read_bytes()
    assert poses == (tmp_path / "one" / "refined_poses.txt").read_bytes()
    names = [json.loads(x)["name"] for x in (tmp_path / "three" / "results.jsonl").read_text().splitlines()]
    assert names == [json.loads(x)["name"] for x in (tmp_path / "one" / "results.jsonl").read_text().splitlines()]


def test_query_file_stem_makes_one_safe_file_name():
    assert query_file_stem("seq-01/frame-000000.color.png") == "seq-01_frame-000000.color"
    assert query_file_stem("test/r_3") == "test_r_3"
    assert query_file_stem("night shots/IMG 1.JPG") == "night_shots_IMG_1"


def test_refine_with_mast3r_max_size_and_the_paper_relative_variant(workdir, tiny_mast3r, tmp_path):
    """``gscpr refine --matcher mast3r`` takes the common matcher options (``--max-size``), and ``--recipe paper
    --relative`` gives MASt3R the original's options and GS-CPR_rel its published solver (random weights: the
    poses mean nothing, the statuses and the configuration do)."""
    root, _, coarse = workdir
    out = tmp_path / "out"
    name = sorted(n for n in coarse if n != "test/r_9.png")[0]
    write_poses(tmp_path / "one.txt", {name: coarse[name]})  # one query keeps the test short
    args = ["refine", "--model", str(root / "scene.ply"), "--data", str(root / "data"), "--poses",
            str(tmp_path / "one.txt"), "--out", str(out), "--device", "cpu", "--matcher", "mast3r",
            "--matcher-checkpoint", str(tiny_mast3r), "--max-size", "128", "--recipe", "paper",
            "--relative"]  # fmt: skip
    assert main(args) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["refine"]["relative"] and config["refine"]["relative_solver"] == "mast3r-pair"
    options = config["matcher_options"]
    assert options["max_size"] == 128 and options["pairwise"] and options["resize"] == "pil"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    (record,) = records
    assert record["status"] in {"refined", "relative_pose_failed", "too_few_valid_depth", "too_few_inliers"}
    assert record["timings"]["match"] > 0 and record["num_matches"] == 0  # pointmaps only, as the original
    assert set(read_poses(out / "refined_poses.txt")) == {name}


def test_resume_redoes_exactly_the_records_whose_coarse_pose_or_options_changed(workdir, tmp_path, capsys):
    """Each record carries a fingerprint; a rerun redoes the queries whose fingerprint changed and says so once."""
    root, _, coarse = workdir
    coarse = {n: coarse[n] for n in ("test/r_1.png", "test/r_2.png")}  # two queries keep it quick
    poses = tmp_path / "coarse.txt"
    write_poses(poses, coarse)
    out = tmp_path / "out"
    args = ["refine", "--model", str(root / "scene.ply"), "--data", str(root / "data"), "--poses", str(poses)]
    args += ["--out", str(out), "--device", "cpu", "--iterations", "1", "--matcher", "sift"]

    def lines():
        return (out / "results.jsonl").read_text().splitlines()

    assert main(args) == 0
    first = lines()
    assert len(first) == 2 and all(set(json.loads(x)["fingerprint"]) == {"coarse pose", "query", "options", "model",
                                                                          "render file"} for x in first)  # fmt: skip
    assert json.loads(first[0])["render"] == {"from": "on the fly", "color": None}
    capsys.readouterr()
    assert main(args) == 0  # unchanged: nothing redone, nothing said
    assert lines() == first and "resume" not in capsys.readouterr().err
    moved = perturb_pose(coarse["test/r_2.png"], 1.0, 0.01, frame="world", rng=9)
    write_poses(poses, {**coarse, "test/r_2.png": moved})
    assert main(args) == 0
    assert "resume: 1 of 2 records redone: coarse pose changed for 1" in capsys.readouterr().err
    again = lines()  # the merged file: one record per query, in query order, only the changed one rewritten
    assert [json.loads(x)["name"] for x in again] == [json.loads(x)["name"] for x in first]
    redone = [a for a, b in zip(again, first, strict=True) if a != b]
    assert [json.loads(x)["name"] for x in redone] == ["test/r_2.png"]
    assert main([*args, "--ransac-px", "3"]) == 0  # an option: every record
    assert "resume: 2 of 2 records redone: options changed for 2" in capsys.readouterr().err


def test_records_without_a_fingerprint_are_redone_with_a_message(workdir, tmp_path, capsys):
    root, _, coarse = workdir
    write_poses(tmp_path / "coarse.txt", {n: coarse[n] for n in ("test/r_0.png", "test/r_3.png")})
    out = tmp_path / "out"
    args = ["refine", "--model", str(root / "scene.ply"), "--data", str(root / "data")]
    args += ["--poses", str(tmp_path / "coarse.txt"), "--out", str(out), "--device", "cpu", "--iterations", "1"]
    args += ["--matcher", "sift"]
    assert main(args) == 0
    old = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    (out / "results.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "fingerprint"}) + "\n"
                                               for r in old))  # fmt: skip
    capsys.readouterr()
    assert main(args) == 0
    assert "resume: 2 of 2 records redone: no fingerprint (written by an older gscpr) for 2" in capsys.readouterr().err
    assert all("fingerprint" in json.loads(x) for x in (out / "results.jsonl").read_text().splitlines())


def test_renders_made_on_the_fly_take_the_query_colour_transform(workdir, tmp_path):
    """A query's RenderColor (ACT) is applied to every render made for it (first pass and recovery renders) and
    its record says so."""
    import torch

    from gscpr.match import load_matcher
    from gscpr.pipeline import refine_queries
    from gscpr.queries import Query, RenderColor
    from gscpr.refine import RefineConfig
    from gscpr.splat import load_ply

    root, gt, coarse = workdir
    seen = []
    color = RenderColor(lambda image: (seen.append(image.shape), lambda rgb: torch.full_like(rgb, 0.5))[1], "grey")
    name = "test/r_0.png"
    q = Query(name, root / "data" / "test" / "r_0.png", CAM, coarse[name], gt[name], render_color=color)
    results = []
    records = refine_queries(load_ply(root / "scene.ply"), [q], load_matcher("sift", "cpu"), RefineConfig(),
                             tmp_path, progress=False, on_result=lambda q, r, im: results.append(r))  # fmt: skip
    assert seen == [(CAM.height, CAM.width, 3)]  # chosen once, from the query image
    (r,) = results
    assert r.status.value == "too_few_matches" and torch.all(r.render_rgb == 0.5)  # a grey render has no features
    assert records[name]["render"] == {"from": "on the fly", "color": "grey"}
