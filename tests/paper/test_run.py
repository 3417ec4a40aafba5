"""The paper's commands on a generated 7-Scenes-layout working directory (two scenes, two queries each)."""

import json
import shutil
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from gscpr import paper
from gscpr.camera import Camera
from gscpr.geometry import invert_pose, perturb_pose, pose_errors
from gscpr.outputs import LOCK_FILE
from gscpr.paper.run import main
from gscpr.poses import read_poses, write_matrix_pose, write_poses
from gscpr.splat import render, save_ply
from gscpr.synthetic import pose_inside, textured_room

from .fixtures import (
    make_cambridge_queries,
    make_paper_root,
    write_original_renders,
    write_project_act,
    write_released_act,
)

SCENES = ("chess", "fire")
NAMES = ["seq-03-frame-000000.color.png", "seq-03-frame-000001.color.png"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gscpr_root")
    scene = textured_room()
    rng = np.random.default_rng(7)
    cam = Camera.centered(640, 480, 526.22)
    for s in SCENES:
        save_ply(paper.model_dir(root, "7scenes", s) / "point_cloud" / "iteration_30000" / "point_cloud.ply", scene)
        test = root / "datasets" / f"pgt_7scenes_{s}" / "test"
        coarse, coarse_dfnet = {}, {}
        for i, name in enumerate(NAMES):
            gt = pose_inside(rng)
            img = render(scene, cam, gt, backend="torch").rgb[0].numpy()
            for sub in ("rgb", "poses", "calibration"):
                (test / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(test / "rgb" / name), cv2.cvtColor((img * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
            base = name.split(".")[0]
            write_matrix_pose(test / "poses" / f"{base}.pose.txt", invert_pose(gt))
            (test / "calibration" / f"{base}.calibration.txt").write_text("526.22")
            coarse[name] = perturb_pose(gt, 2.0, 0.04, frame="world", rng=i)
            coarse_dfnet[name.replace("-frame", "/frame")] = coarse[name]
        write_poses(root / "coarse_poses" / "ace" / "7Scenes_pgt" / f"poses_pgt_7scenes_{s}_.txt", coarse)
        write_poses(root / "coarse_poses" / "dfnet" / "7Scenes_pgt" / f"poses_pgt_7scenes_{s}_.txt", coarse_dfnet)
    return root


@pytest.fixture
def two_scenes(monkeypatch):
    monkeypatch.setitem(paper.DATASETS, "7scenes", replace(paper.DATASETS["7scenes"], scenes=SCENES))


def gt_poses(root, scene):
    from gscpr.data import load_7scenes

    return {f.name: f.pose for f in load_7scenes(root / "datasets" / f"pgt_7scenes_{scene}")}


def test_gs_cpr_7s_test_all_writes_the_original_outputs(root, two_scenes, capsys):
    argv = ["--pose_estimator", "ace", "--test_all", "--matcher", "xfeat", "--solver", "poselib", "--subpixel"]
    argv += ["--iterations", "3"]
    assert main("7scenes", argv=[*argv, "--root", str(root), "--device", "cpu"]) == 0
    out = root / "outputs" / "7scenes" / "GS_CPR_ace_results"
    for s in SCENES:
        refined = read_poses(out / "refine_predictions" / f"ace_refinew2c_mast3r_{s}.txt")
        assert sorted(refined) == NAMES
        for name, gt in gt_poses(root, s).items():
            rot, trans = pose_errors(refined[name], gt)
            # 3DGS depth is constant over each splat's footprint: on walls seen at grazing angles the lifted
            # points sit a few mm off the surface, which bounds the accuracy on this coarse generated scene.
            assert rot < 0.1 and trans < 0.005
        log = (out / f"logs_{s}.log").read_text()
        assert log.count("GS-CPR for ace:") == 1 and f"ace:{s}-" in log  # one log per scene
        assert "After refine Accuracy:" in log and "\t1cm/1deg: 100.0%" in log.split("After refine Accuracy:")[1]
    assert "| chess | 2 |" in capsys.readouterr().out
    config = json.loads((out / "refine_predictions" / SCENES[0] / "config.json").read_text())
    assert (config["script"], config["matcher"], config["recipe"]) == ("gs_cpr_7s.py", "xfeat", "paper")
    assert config["refine"]["solver"] == "poselib" and config["refine"]["iterations"] == 3  # what made the results


def test_test_all_reads_every_scene_before_refining_any(root, two_scenes, monkeypatch, capsys):
    monkeypatch.setitem(paper.DATASETS, "7scenes", replace(paper.DATASETS["7scenes"], scenes=(*SCENES, "heads")))
    argv = ["--pose_estimator", "ace", "--test_all", "--matcher", "xfeat", "--root", str(root), "--device", "cpu"]

    def outputs() -> dict:  # every file the runs wrote (the folder's lock file says who ran last: not counted)
        return {f: f.stat().st_mtime_ns for f in (root / "outputs").rglob("*") if f.is_file() and f.name != LOCK_FILE}

    before = outputs()
    assert main("7scenes", argv=argv) == 2
    assert "heads:" in capsys.readouterr().err
    assert outputs() == before  # nothing refined, nothing written: the missing scene was found first


def test_cambridge_switches_are_refused_elsewhere(root, capsys):
    assert main("7scenes", argv=["--root", str(root), "--matcher", "xfeat", "--legacy_focal"]) == 2
    assert "Cambridge switches" in capsys.readouterr().err


def test_paper_defaults_need_mast3r_and_say_how(root, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mast3r", None)  # unavailable even where the real mast3r is on sys.path
    assert main("7scenes", argv=["--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "mast3r package" in err and "--matcher xfeat" in err


def test_paper_solver_uses_renders_on_disk_and_the_relative_variant(root, two_scenes, tmp_path, capsys):
    work = tmp_path / "root"
    shutil.copytree(root / "datasets", work / "datasets")
    shutil.copytree(root / "coarse_poses", work / "coarse_poses")
    shutil.copytree(root / "ACT_Scaffold_GS", work / "ACT_Scaffold_GS")
    from gscpr.cli import main as gscpr

    assert gscpr(["render", "--dataset", "7scenes", "--scene", "chess", "--estimator", "dfnet", "--root", str(work),
                  "--device", "cpu", "--backend", "torch"]) == 0  # fmt: skip
    shutil.rmtree(work / "ACT_Scaffold_GS" / "data" / "7scenes" / "scene_chess" / "train")  # only the renders remain
    argv = [
        "--pose_estimator",
        "dfnet",
        "--scene",
        "chess",
        "--matcher",
        "xfeat",
        "--root",
        str(work),
        "--device",
        "cpu",
    ]
    assert main("7scenes", argv=argv) == 0  # the paper's EPnP-RANSAC at 1 px, no sub-pixel step
    pred = work / "outputs" / "7scenes" / "GS_CPR_dfnet_results" / "refine_predictions"
    refined = read_poses(pred / "dfnet_refinew2c_mast3r_chess.txt")
    assert sorted(refined) == NAMES  # the dataset's names, as the original writes them
    records = [json.loads(x) for x in (pred / "chess" / "results.jsonl").read_text().splitlines()]
    assert all(r["status"] == "refined" and r["timings"]["render"] < 0.05 for r in records)  # read, not rendered
    gt = gt_poses(work, "chess")
    coarse = read_poses(work / "coarse_poses" / "dfnet" / "7Scenes_pgt" / "poses_pgt_7scenes_chess_.txt")
    for name in NAMES:
        before = pose_errors(coarse[name.replace("-frame", "/frame")], gt[name])
        after = pose_errors(refined[name], gt[name])
        assert after[0] < before[0] and after[1] < before[1]
    # GS-CPR_rel writes world poses too, closer than the coarse ones, in its own folder.
    absolute = (pred / "dfnet_refinew2c_mast3r_chess.txt").read_bytes()
    assert main("7scenes", relative=True, argv=argv) == 0
    assert (pred / "dfnet_refinew2c_mast3r_chess.txt").read_bytes() == absolute
    rel_pred = work / "outputs" / "7scenes" / "GS_CPR_rel_dfnet_results" / "refine_predictions"
    rel = read_poses(rel_pred / "dfnet_refinew2c_mast3r_chess.txt")
    assert json.loads((rel_pred / "chess" / "config.json").read_text())["script"] == "gs_cpr_7s_rel.py"
    for name in NAMES:
        assert pose_errors(rel[name], gt[name])[0] < pose_errors(coarse[name.replace("-frame", "/frame")], gt[name])[0]
    # A second pass needs a render at the refined pose, which only the model can make: said, not silent.
    capsys.readouterr()
    assert main("7scenes", argv=[*argv, "--iterations", "2"]) == 0
    err = capsys.readouterr().err
    assert "chess: --iterations 2 render at refined poses, but there is no model at" in err
    assert "each query stops after its first pass" in err
    # A damaged depth render fails its own query, said on stderr with the file, not only in results.jsonl.
    depth = paper.render_dir(work, "7scenes", "chess", "dfnet") / NAMES[0].replace("-frame", "/frame").replace(
        ".png", ".npy"
    )
    depth.write_bytes(b"not an array")
    assert main("7scenes", argv=argv) == 0  # the other query still refined
    err = capsys.readouterr().err
    assert f"warning: chess: {NAMES[0]}: bad input, coarse pose kept: {depth}: not a depth map" in err
    assert "Traceback" not in err


def test_gs_cpr_7s_runs_unchanged_under_torchrun(root, tmp_path):
    """The paper's script under ``torchrun --nproc_per_node 2`` (gloo on the CPU): each rank refines its share,
    rank 0 merges and writes the original's outputs once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    work = tmp_path / "root"
    for d in ("datasets", "coarse_poses", "ACT_Scaffold_GS"):
        shutil.copytree(root / d, work / d)
    script = Path(__file__).resolve().parents[2] / "gs_cpr_7s.py"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           "--pose_estimator", "ace", "--scene", "chess", "--matcher", "xfeat", "--solver", "poselib", "--subpixel",
           "--iterations", "3", "--root", str(work), "--device", "cpu"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("| chess | 2 |") == 1  # rank 0 alone prints the table
    out = work / "outputs" / "7scenes" / "GS_CPR_ace_results"
    refined = read_poses(out / "refine_predictions" / "ace_refinew2c_mast3r_chess.txt")
    for name, gt in gt_poses(work, "chess").items():
        rot, trans = pose_errors(refined[name], gt)
        assert rot < 0.1 and trans < 0.005
    records = (out / "refine_predictions" / "chess" / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["name"] for x in records) == NAMES
    assert not list((out / "refine_predictions" / "chess" / "shards").glob("*.jsonl"))
    assert (out / "logs_chess.log").read_text().count("GS-CPR for ace:") == 1


def test_the_threshold_is_the_datasets_for_the_paper_recipe_and_the_recipes_own_otherwise():
    from gscpr.paper.datasets import get_dataset
    from gscpr.paper.run import _parser, refine_config

    def px(dataset: str, *argv: str) -> float:
        args = _parser(dataset, False).parse_args(["--matcher", "xfeat", *argv])
        return refine_config(args, get_dataset(dataset), False).ransac_px

    assert px("7scenes") == 1.0 and px("cambridge") == 2.5  # the original's, at 640x480 and 1920x1080
    assert px("7scenes", "--recipe", "gscpr") == px("cambridge", "--recipe", "gscpr") == 2.0
    assert px("cambridge", "--ransac_px", "0.5") == 0.5  # given: used as given, any recipe


CAM_NAMES = ["seq1_frame00001.png", "seq2_frame00003.png"]  # ACE / GLACE coarse pose names


@pytest.fixture
def cambridge(tmp_path):
    """A Cambridge working directory with ACE coarse poses (96x54 full-resolution queries, one grey level)."""
    info = make_paper_root(tmp_path, "cambridge", "ShopFacade", "ace", CAM_NAMES)
    make_cambridge_queries(tmp_path / "datasets", "ShopFacade", CAM_NAMES, info["gt"])
    return tmp_path, info["coarse"]


def run_cambridge(root, *extra) -> dict[str, dict]:
    argv = ["--pose_estimator", "ace", "--scene", "ShopFacade", "--matcher", "sift", "--root", str(root)]
    status = main("cambridge", argv=[*argv, "--device", "cpu", *extra])
    records = root / "outputs" / "cambridge" / "GS_CPR_ace_results" / "refine_predictions" / "ShopFacade"
    records = {r["name"]: r for r in map(json.loads, (records / "results.jsonl").read_text().splitlines())}
    assert status == (0 if any(r["status"] == "refined" for r in records.values()) else 2)  # none: exit 2
    return records


def test_cambridge_renders_under_the_original_names_are_used_and_changes_redo_their_queries(cambridge, capsys):
    root, coarse = cambridge
    files = write_original_renders(root, "cambridge", "ShopFacade", "ace", ["seq1/frame00001.png",
                                                                             "seq2/frame00003.png"])  # fmt: skip
    shutil.rmtree(paper.model_dir(root, "cambridge", "ShopFacade"))  # nothing could be rendered on the fly
    records = run_cambridge(root)
    assert "renders not in" not in capsys.readouterr().err
    assert sorted(records) == ["seq1/frame00001.png", "seq2/frame00003.png"]  # the dataset's names
    for name, path in zip(sorted(records), files, strict=True):
        assert records[name]["render"] == {"from": "file", "path": str(path)}
        assert records[name]["status"] != "render_failed" and records[name]["timings"]["render"] == 0.0
    assert run_cambridge(root) == records and "resume" not in capsys.readouterr().err  # unchanged: nothing redone
    write_original_renders(root, "cambridge", "ShopFacade", "ace", ["seq2/frame00003.png"], value=120)
    again = run_cambridge(root)
    assert "resume: 1 of 2 records redone: render file changed for 1" in capsys.readouterr().err
    assert again["seq1/frame00001.png"] == records["seq1/frame00001.png"]
    assert again["seq2/frame00003.png"]["fingerprint"] != records["seq2/frame00003.png"]["fingerprint"]
    pose_file = paper.get_dataset("cambridge").coarse_pose_file(root / "coarse_poses", "ace", "ShopFacade")
    moved = perturb_pose(coarse["seq1_frame00001.png"], 0.5, 0.01, frame="world", rng=3)
    write_poses(pose_file, {**coarse, "seq1_frame00001.png": moved})
    run_cambridge(root)
    assert "resume: 1 of 2 records redone: coarse pose changed for 1" in capsys.readouterr().err
    run_cambridge(root, "--ransac_px", "3")
    assert "resume: 2 of 2 records redone: options changed for 2" in capsys.readouterr().err


def test_a_render_that_gscpr_made_at_an_earlier_coarse_pose_is_not_used_for_the_new_one(cambridge, capsys):
    from gscpr.render_poses import POSE_INDEX

    root, coarse = cambridge
    write_original_renders(root, "cambridge", "ShopFacade", "ace", ["seq1/frame00001.png", "seq2/frame00003.png"])
    renders = paper.render_dir(root, "cambridge", "ShopFacade", "ace")
    index = {"seq1/frame00001.png": coarse["seq1_frame00001.png"], "seq2/frame00003.png": coarse["seq2_frame00003.png"]}
    (renders / POSE_INDEX).write_text(json.dumps({k: v.reshape(-1).tolist() for k, v in index.items()}))
    assert all(r["render"]["from"] == "file" for r in run_cambridge(root).values())  # made at these poses: used
    pose_file = paper.get_dataset("cambridge").coarse_pose_file(root / "coarse_poses", "ace", "ShopFacade")
    moved = perturb_pose(coarse["seq1_frame00001.png"], 0.5, 0.01, frame="world", rng=3)
    write_poses(pose_file, {**coarse, "seq1_frame00001.png": moved})
    capsys.readouterr()
    records = run_cambridge(root)
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ShopFacade")]
    # Said once, as a render on disk made at another pose (not as one missing from the folder), and not taken.
    assert len(said) == 1 and "1 of 2 renders in" in said[0] and "made at another pose" in said[0], said
    assert "not in" not in said[0] and "seq1/frame00001.png" in said[0] and "rendering them on the fly" in said[0]
    assert records["seq1/frame00001.png"]["render"]["from"] == "on the fly"
    assert records["seq2/frame00003.png"]["render"]["from"] == "file"


def test_cambridge_renders_made_on_the_fly_take_the_act_weights_and_say_so(cambridge, capsys):
    root, _ = cambridge
    released = paper.datasets.released_act_path(root, "ShopFacade")
    records = run_cambridge(root)
    err = capsys.readouterr().err
    assert err.count("2 of 2 renders not in") == 1 and "WITHOUT ACT" in err and str(released) in err
    assert all(r["render"] == {"from": "on the fly", "color": None} and r["timings"]["render"] > 0
               for r in records.values())  # fmt: skip
    write_released_act(released)
    records = run_cambridge(root)
    err = capsys.readouterr().err
    assert f"with ACT {released} (legacy channel layout)" in err
    assert "resume: 2 of 2 records redone: model changed for 2" in err
    assert all(r["render"]["color"] == f"ACT {released} (legacy channel layout)" for r in records.values())
    ours = write_project_act(paper.model_dir(root, "cambridge", "ShopFacade") / "act.pt")  # trained with the model
    records = run_cambridge(root)
    assert "resume: 2 of 2 records redone: model changed for 2" in capsys.readouterr().err
    assert all(r["render"]["color"] == f"ACT {ours} (per-pixel RGB)" for r in records.values())


def test_unreadable_act_weights_stop_with_one_line_naming_the_file(cambridge, capsys):
    root, _ = cambridge
    bad = paper.model_dir(root, "cambridge", "ShopFacade") / "act.pt"
    bad.write_bytes(b"not a checkpoint")
    argv = ["--pose_estimator", "ace", "--scene", "ShopFacade", "--matcher", "sift", "--root", str(root)]
    assert main("cambridge", argv=[*argv, "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: ShopFacade: {bad}: cannot read the checkpoint")


def test_the_script_recorded_is_the_file_that_runs():
    from pathlib import Path

    from gscpr.paper.run import SCRIPTS, script_name

    repo = Path(__file__).resolve().parents[2]
    assert set(SCRIPTS) == set(paper.DATASETS)
    for dataset in paper.DATASETS:
        name = script_name(dataset)
        assert (repo / name).is_file() and f'main("{dataset}", relative=False)' in (repo / name).read_text()
    for dataset in ("7scenes", "cambridge"):
        name = script_name(dataset, relative=True)
        assert (repo / name).is_file() and f'main("{dataset}", relative=True)' in (repo / name).read_text()


@pytest.mark.parametrize(
    "relative, argv, solver",
    [
        (True, ["--solver", "essential"], "essential"),
        (True, ["--solver", "mast3r-pair", "--matcher", "xfeat"], "mast3r-pair"),
        (True, ["--relative_solver", "essential"], "essential"),
        (True, [], "mast3r-pair"),  # the paper recipe with MASt3R: the published solver
        (True, ["--matcher", "xfeat"], "essential"),
        (False, ["--solver", "paper"], "opencv-epnp"),  # the registry's alias
    ],
)
def test_the_rel_scripts_solver_is_the_two_view_one(relative, argv, solver):
    """``--solver`` on a ``_rel`` script chooses GS-CPR_rel's two-view solver, as on the absolute ones the PnP one."""
    from gscpr.paper.run import _parser, refine_config

    cfg = refine_config(_parser("7scenes", relative).parse_args(argv), paper.get_dataset("7scenes"), relative)
    assert cfg.relative is relative and (cfg.relative_solver if relative else cfg.solver) == solver


@pytest.mark.parametrize("relative, solver", [(True, "poselib"), (False, "essential"), (True, "banana")])
def test_a_solver_of_the_other_kind_is_refused_listing_the_right_ones(capsys, relative, solver):
    with pytest.raises(SystemExit) as e:
        main("cambridge", relative, ["--solver", solver])
    (line,) = capsys.readouterr().err.strip().splitlines()
    from gscpr.solvers import solver_names

    expected = ", ".join(repr(n) for n in solver_names("relative" if relative else "absolute"))  # the registry's
    assert ("'essential', 'mast3r-pair'" if relative else "'poselib', 'pycolmap', 'opencv-epnp'") in expected
    assert e.value.code == 2 and "argument --solver" in line and f"invalid choice: '{solver}'" in line
    assert expected in line


def test_no_coarse_pose_naming_a_test_image_stops_the_script(root, two_scenes, tmp_path, capsys):
    work = tmp_path / "root"
    shutil.copytree(root / "datasets", work / "datasets")
    poses = work / "coarse_poses" / "ace" / "7Scenes_pgt" / "poses_pgt_7scenes_chess_.txt"
    write_poses(poses, {"seq-09/frame-000123.color.png": np.eye(4)})
    argv = ["--scene", "chess", "--matcher", "xfeat", "--root", str(work), "--device", "cpu"]
    assert main("7scenes", argv=argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: chess: none of the 1 coarse pose of ace names a test image of")
    assert "'seq-09/frame-000123.color.png'" in line
    written = [f for f in (work / "outputs").rglob("*") if f.is_file() and f.name != LOCK_FILE]
    assert written == []  # the output folder was checked and locked first; nothing was written in it
