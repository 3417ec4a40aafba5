import json
import os

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.cli import main
from gscpr.geometry import invert_pose, perturb_pose, pose_errors, pose_to_qt
from gscpr.outputs import LOCK_FILE
from gscpr.overlays import query_file_stem
from gscpr.poses import read_poses, write_poses
from gscpr.synthetic import write_room_queries

CAM = Camera.centered(240, 180, 200.0)


def refine_args(root, data=None) -> list[str]:
    """``gscpr refine`` on the fixture's model, query set (or ``data``) and coarse poses. The queries are the room
    rendered on black in a Blender-format folder, whose default background is white: the command is told."""
    data = data or root / "data"
    return ["refine", "--model", str(root / "scene.ply"), "--data", str(data), "--poses", str(root / "coarse.txt"),
            "--background", "0", "0", "0"]  # fmt: skip


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
    assert "confidence (the calibrated probability" in captured.out and "over the 4 refined" in captured.out
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
    root, _, coarse = workdir
    import shutil

    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    (data / "test" / "r_1.png").write_bytes(b"\x89PNG broken")
    (data / "test" / "r_2.png").write_bytes(b"")
    out = tmp_path / "out"
    args = refine_args(root, data)
    assert main([*args, "--out", str(out), "--device", "cpu", "--matcher", "sift"]) == 0
    records = {json.loads(x)["name"]: json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()}
    assert records["test/r_1.png"]["status"] == "bad_input"
    bad = data / "test" / "r_1.png"
    assert records["test/r_1.png"]["message"] == f"{bad}: not an image (11 bytes in no image format Pillow reads)"
    assert records["test/r_2.png"]["message"] == f"{data / 'test' / 'r_2.png'}: not an image (empty file)"
    summary = (out / "summary.md").read_text()
    assert f"bad input, coarse pose kept (2):\n- test/r_1.png: {bad}: not an image" in summary
    assert sum(r["status"] == "refined" for r in records.values()) == 2
    kept = read_poses(out / "refined_poses.txt")["test/r_2.png"]
    np.testing.assert_allclose(kept, coarse["test/r_2.png"], atol=1e-12)  # its coarse pose kept


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
    status = main(args)
    config = json.loads((out / "config.json").read_text())
    assert config["refine"]["relative"] and config["refine"]["relative_solver"] == "mast3r-pair"
    options = config["matcher_options"]
    assert options["max_size"] == 128 and options["pairwise"] and options["resize"] == "pil"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    (record,) = records
    assert record["status"] in {"refined", "relative_pose_failed", "too_few_valid_depth", "too_few_inliers"}
    assert status == (0 if record["status"] == "refined" else 2)  # no query refined: exit 2, outputs written
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
                                                                          "render file", "confidence model"}
                                   for x in first)  # fmt: skip
    assert json.loads(first[0])["render"] == {"from": "on the fly", "color": None}
    capsys.readouterr()
    assert main(args) == 0  # unchanged: nothing redone, nothing said
    assert lines() == first and "resume:" not in capsys.readouterr().err  # (the folder name holds "resume")
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
    # A query image or the model file replaced (new size or modification time) redoes what depends on it.
    args += ["--ransac-px", "3"]
    image = root / "data" / "test" / "r_1.png"
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    assert main(args) == 0
    assert "resume: 1 of 2 records redone: query changed for 1" in capsys.readouterr().err
    model = root / "scene.ply"
    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 10**9))
    assert main(args) == 0
    assert "resume: 2 of 2 records redone: model changed for 2" in capsys.readouterr().err


def test_a_refit_confidence_model_redoes_the_records_it_decided(workdir, tmp_path, capsys, monkeypatch):
    """Records keep the confidence and status the models of their run gave; resumed with other models (a refit,
    a newer gscpr), each is redone and decided by them, said once. Runs without verification never redo for it."""
    from gscpr.refine import verify

    root, _, coarse = workdir
    write_poses(tmp_path / "coarse.txt", {n: coarse[n] for n in ("test/r_0.png", "test/r_3.png")})
    args = [*refine_args(root), "--poses", str(tmp_path / "coarse.txt"), "--device", "cpu", "--matcher", "sift"]
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--out", str(tmp_path / "plain"), "--no-verify"]) == 0
    models = json.loads(verify.MODEL_FILE.read_text())
    models["variants"]["render"]["intercept"] -= 100.0  # one that trusts nothing
    refit = tmp_path / "confidence.json"
    refit.write_text(json.dumps(models))
    monkeypatch.setattr(verify, "MODEL_FILE", refit)
    verify.load_confidence_model.cache_clear()
    try:
        capsys.readouterr()
        assert main([*args, "--out", str(out)]) == 2  # no query left refined
        assert "resume: 2 of 2 records redone: confidence model changed for 2" in capsys.readouterr().err
        records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
        assert all(r["status"] == "unverified" and r["confidence"] < 0.01 for r in records)
        assert main([*args, "--out", str(tmp_path / "plain"), "--no-verify"]) == 0
        assert "resume:" not in capsys.readouterr().err
    finally:
        verify.load_confidence_model.cache_clear()  # the packaged models for the tests after this one


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


def as_folder(root, fmt: str, gt) -> tuple:
    """The fixture's query images as a COLMAP, instant-ngp or LLFF folder; returns it and its coarse pose file."""
    data, coarse = root / f"as_{fmt}", root / "coarse.txt"
    names = sorted(gt)  # test/r_0.png ...
    if fmt == "ngp":  # the Blender file plus the image size is an instant-ngp transforms.json
        d = json.loads((root / "data" / "transforms_test.json").read_text())
        data.mkdir(exist_ok=True)
        (data / "transforms.json").write_text(json.dumps({**d, "w": CAM.width, "h": CAM.height}))
        (data / "test").symlink_to(root / "data" / "test")
    elif fmt == "colmap":  # written by hand, as small tools do
        (data / "sparse" / "0").mkdir(parents=True, exist_ok=True)
        (data / "images").mkdir(exist_ok=True)
        (data / "images" / "test").symlink_to(root / "data" / "test")
        (data / "sparse" / "0" / "cameras.txt").write_text("1 PINHOLE 240 180 200 200 120 90\n")
        lines = []
        for i, n in enumerate(names, start=1):
            q, t = pose_to_qt(gt[n])
            lines += [" ".join(map(str, [i, *q, *t, 1, n])), ""]
        (data / "sparse" / "0" / "images.txt").write_text("\n".join(lines) + "\n")
    else:  # LLFF: names are file names, so the coarse poses are renamed
        data.mkdir(exist_ok=True)
        (data / "images").symlink_to(root / "data" / "test")
        rows = []
        for n in names:
            c2w = invert_pose(gt[n])
            llff = np.stack([c2w[:3, 1], c2w[:3, 0], -c2w[:3, 2], c2w[:3, 3], [180, 240, 200.0]], axis=1)
            rows.append(np.concatenate([llff.reshape(-1), [0.1, 10.0]]))
        np.save(data / "poses_bounds.npy", np.array(rows))
        coarse = root / "coarse_llff.txt"
        write_poses(coarse, {n.removeprefix("test/"): p for n, p in read_poses(root / "coarse.txt").items()})
    return data, coarse


@pytest.mark.parametrize("fmt", ["colmap", "ngp", "llff"])
@pytest.mark.filterwarnings("ignore:.*images_8/ is absent")  # the LLFF folder has images/ only
def test_every_image_the_poses_name_is_refined_in_a_holdout_format_folder(workdir, tmp_path, fmt, capsys):
    """Not only the every-8th hold-out of the training formats: 4 named, 4 refined (the hold-out had 1)."""
    root, gt, _ = workdir
    data, coarse = as_folder(root, fmt, gt)
    split = ["--split", "all"] if fmt == "colmap" else []  # accepted; the same frames as the default here
    args = ["refine", "--model", str(root / "scene.ply"), "--data", str(data), "--poses", str(coarse), *split]
    assert main([*args, "--out", str(tmp_path), "--device", "cpu", "--iterations", "1", "--matcher", "sift"]) == 0
    assert "refined 4" in capsys.readouterr().out
    refined = read_poses(tmp_path / "refined_poses.txt")
    for name, pose in gt.items():
        rot, trans = pose_errors(refined[name if fmt != "llff" else name.removeprefix("test/")], pose)
        assert rot < 0.2 and trans < 0.005  # from 2 degrees and 4 cm: each folder's camera read right


FISHEYE = Camera(240, 180, 110.0, 110.0, 119.5, 89.5, dist=(0.03, -0.01, 0.002, 0.0), dist_model="fisheye")


def write_fisheye_capture(root, scene, poses, transforms: dict) -> list[str]:
    """Fisheye views of ``scene``: each pixel samples a wide pinhole render along the ray the fisheye model gives
    it (``cv2.fisheye.undistortPoints``), as a fisheye lens would see the room; an instant-ngp folder."""
    import cv2
    import imageio.v3 as iio

    from gscpr.data.images import to_uint8
    from gscpr.geometry import opencv_w2c_to_opengl_c2w
    from gscpr.splat import render

    wide = Camera.centered(600, 450, 130.0)  # rays up to 66 degrees from the axis: the fisheye's sides
    u, v = np.meshgrid(np.arange(FISHEYE.width, dtype=np.float64), np.arange(FISHEYE.height, dtype=np.float64))
    rays = cv2.fisheye.undistortPoints(np.stack([u, v], -1).reshape(-1, 1, 2), FISHEYE.K, np.array(FISHEYE.dist))
    map_xy = (rays.reshape(FISHEYE.height, FISHEYE.width, 2) * wide.fx + [wide.cx, wide.cy]).astype(np.float32)
    (root / "images").mkdir(parents=True, exist_ok=True)
    frames = []
    for i, pose in enumerate(poses):
        rgb = render(scene, wide, pose, backend="torch").rgb[0].cpu().numpy()
        fisheye = cv2.remap(rgb, map_xy, None, cv2.INTER_LINEAR)
        iio.imwrite(root / "images" / f"{i}.png", to_uint8(fisheye))
        frames.append({"file_path": f"images/{i}.png", "transform_matrix": opencv_w2c_to_opengl_c2w(pose).tolist()})
    cx, cy = FISHEYE.continuous_principal_point()
    (root / "transforms.json").write_text(json.dumps({"fl_x": FISHEYE.fx, "fl_y": FISHEYE.fy, "cx": cx, "cy": cy,
                                                      "w": FISHEYE.width, "h": FISHEYE.height, **transforms,
                                                      "frames": frames}))  # fmt: skip
    return [f"images/{i}.png" for i in range(len(poses))]


def test_a_fisheye_capture_refines_end_to_end_and_not_as_a_pinhole(workdir, tmp_path, capsys):
    from gscpr.splat import load_ply
    from gscpr.synthetic import pose_inside

    root = workdir[0]
    rng = np.random.default_rng(3)
    gt = [pose_inside(rng, 0.5) for _ in range(2)]
    k = dict(zip(("k1", "k2", "k3", "k4"), FISHEYE.dist, strict=True))
    names = write_fisheye_capture(tmp_path / "fisheye", load_ply(root / "scene.ply"), gt, {"is_fisheye": True, **k})
    (tmp_path / "pinhole").mkdir()  # the same images and intrinsics without the fisheye model
    (tmp_path / "pinhole" / "images").symlink_to(tmp_path / "fisheye" / "images")
    transforms = json.loads((tmp_path / "fisheye" / "transforms.json").read_text())
    transforms = {key: v for key, v in transforms.items() if key not in ("is_fisheye", *k)}
    (tmp_path / "pinhole" / "transforms.json").write_text(json.dumps(transforms))
    coarse = {
        n: perturb_pose(p, 2.0, 0.04, frame="world", rng=i) for i, (n, p) in enumerate(zip(names, gt, strict=True))
    }
    write_poses(tmp_path / "coarse.txt", coarse)
    errors, records = {}, {}
    for kind, status in (("fisheye", 0), ("pinhole", 2)):  # 2: no query refined
        out = tmp_path / f"out_{kind}"
        args = ["refine", "--model", str(root / "scene.ply"), "--data", str(tmp_path / kind), "--poses"]
        args += [str(tmp_path / "coarse.txt"), "--out", str(out), "--device", "cpu", "--matcher", "sift"]
        assert main(args) == status
        refined = read_poses(out / "refined_poses.txt")
        errors[kind] = [pose_errors(refined[n], p) for n, p in zip(names, gt, strict=True)]
        records[kind] = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    capsys.readouterr()
    assert all(rot < 0.5 and trans < 0.02 for rot, trans in errors["fisheye"]), errors  # from 2 degrees, 4 cm
    assert all(r["status"] == "refined" and r["confidence"] > 0.9 for r in records["fisheye"])
    # Read as a pinhole, the same images give wrong poses: verification says so and the coarse poses are kept.
    assert all(r["status"] == "unverified" and "verification: confidence" in r["message"] for r in records["pinhole"])
    assert all(np.allclose(refined[n], coarse[n]) for n in names)


def test_names_not_in_the_test_split_are_found_in_the_other_splits(workdir, tmp_path, capsys):
    """A Blender folder whose train split holds two of the images the poses name: all four are refined."""
    root, gt, _ = workdir
    d = json.loads((root / "data" / "transforms_test.json").read_text())
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test").symlink_to(root / "data" / "test")
    for split, frames in (("train", d["frames"][:2]), ("test", d["frames"][2:])):
        (tmp_path / "data" / f"transforms_{split}.json").write_text(json.dumps({**d, "frames": frames}))
    args = [*refine_args(root, tmp_path / "data"), "--device", "cpu", "--iterations", "1", "--matcher", "sift"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "refined 4" in captured.out and "no_image 1" in captured.out  # test/r_9.png has no image anywhere
    assert main([*args, "--split", "test", "--out", str(tmp_path / "test_only")]) == 0
    captured = capsys.readouterr()
    assert "refined 2" in captured.out and "3 coarse pose(s) have no image" in captured.err
    assert "(--split all reads every split)" in captured.err


@pytest.mark.parametrize("background", [(0.0, 0.0, 0.0), (0.0, 1.0, 0.0)])
def test_transparent_query_pixels_take_the_render_background(tmp_path, background):
    """An RGBA query (an object on transparency, as NeRF-synthetic images are) is composited on the background the
    renders are made on (``--background``, the recipe's black by default), so that query and render agree."""
    import torch
    from PIL import Image

    from gscpr.geometry import make_pose
    from gscpr.match import load_matcher
    from gscpr.pipeline import refine_queries
    from gscpr.queries import Query
    from gscpr.refine import RefineConfig
    from gscpr.splat import render
    from gscpr.synthetic import textured_room

    room = textured_room()
    corner = (room.means[:, 2] < -1.99) | (room.means[:, 0] < -1.99)  # two textured 4 x 4 squares at right angles
    wall = room.subset(torch.nonzero(corner).squeeze(1))
    centre, target = np.array([3.0, -0.5, 4.5]), np.array([-2.0, 0.0, -2.0])
    z = (target - centre) / np.linalg.norm(target - centre)  # looking into the corner, the world's +y up
    y = np.array([0.0, -1.0, 0.0]) - z * -z[1]
    y /= np.linalg.norm(y)
    R = np.stack([np.cross(y, z), y, z])
    gt = make_pose(R, -R @ centre)
    out = render(wall, CAM, gt, background=(0.0, 0.0, 0.0))
    rgb, alpha = out.rgb[0].numpy(), out.alpha[0].numpy()
    straight = np.where(alpha[..., None] > 1e-3, rgb / np.maximum(alpha[..., None], 1e-3), 1.0)  # white where clear
    rgba = np.concatenate([straight, alpha[..., None]], axis=2)
    Image.fromarray((np.clip(rgba, 0, 1) * 255 + 0.5).astype(np.uint8), "RGBA").save(tmp_path / "q.png")
    assert alpha[0, 0] == 0 and alpha[CAM.height // 2, CAM.width // 2] > 0.9  # the square, transparency around it

    q = Query("q.png", tmp_path / "q.png", CAM, perturb_pose(gt, 1.0, 0.03, frame="world", rng=0), gt)
    seen = []
    cfg = RefineConfig(background=background, ransac_px=1.0)
    records = refine_queries(wall, [q], load_matcher("sift", "cpu"), cfg, tmp_path / "out", progress=False,
                             on_result=lambda q, r, image: seen.append((r, image)))  # fmt: skip
    ((r, image),) = seen
    np.testing.assert_array_equal(image[0, 0], background)  # a transparent pixel: the render's background
    np.testing.assert_allclose(image, out.rgb[0].numpy() + (1 - alpha[..., None]) * background, atol=1 / 255)
    assert records["q.png"]["status"] == "refined"
    rot, trans = pose_errors(r.pose, gt)
    assert rot < 0.1 and trans < 0.005


def test_pose_file_faults_are_counted_in_the_outputs_and_no_good_line_is_lost(workdir, tmp_path, capsys):
    """A pose file from the wild: a byte-order mark, a stray value on the first line, a malformed line, a pose with
    no image; and an image with no pose. Every good line is refined; the rest is counted in summary.md and
    inputs.json and named on stderr."""
    root, _, coarse = workdir

    def line(name, extra=""):
        q, t = pose_to_qt(coarse[name])
        return " ".join([name, *(repr(float(v)) for v in [*q, *t])]) + extra + "\n"

    poses = tmp_path / "coarse.txt"
    text = line("test/r_0.png", " 525") + line("test/r_1.png") + "test/r_2.png 1 0 0\n" + line("test/r_9.png")
    poses.write_bytes(text.encode("utf-8-sig"))
    out = tmp_path / "out"
    args = ["refine", "--model", str(root / "scene.ply"), "--data", str(root / "data"), "--poses", str(poses)]
    assert main([*args, "--out", str(out), "--device", "cpu", "--matcher", "sift"]) == 0
    err = capsys.readouterr().err
    assert f"skipped a malformed coarse pose: {poses}:3: 3 number(s) after the name 'test/r_2.png'" in err
    assert f"{poses}: lines of several formats" in err
    assert "2 image(s) of" in err and "test/r_2.png, test/r_3.png" in err
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["name"] for r in records] == ["test/r_0.png", "test/r_1.png"]  # the line after the stray value too
    assert set(read_poses(out / "refined_poses.txt")) == {"test/r_0.png", "test/r_1.png", "test/r_9.png"}
    assert (out / "refined_poses.txt").read_bytes().startswith(b"test/r_0.png ")  # no byte-order mark
    summary = (out / "summary.md").read_text()
    assert (f"coarse poses: 3 read from {poses}; 1 line(s) skipped, 1 pose(s) with no image (kept as they are), "
            "2 image(s) with no pose (not refined)") in summary  # fmt: skip
    assert f"skipped lines:\n- {poses}:3: 3 number(s)" in summary
    assert "images with no pose:\n- test/r_2.png\n- test/r_3.png" in summary
    inputs = json.loads((out / "inputs.json").read_text())
    assert inputs["poses_read"] == 3 and inputs["skipped_lines"]["count"] == 1
    assert inputs["poses_without_image"] == {"count": 1, "names": ["test/r_9.png"]}
    assert inputs["images_without_pose"] == {"count": 2, "names": ["test/r_2.png", "test/r_3.png"]}
    assert len(inputs["notes"]) == 1 and "1 pgt (line 1)" in inputs["notes"][0]


def _grey_copy(root, tmp_path):
    """The fixture's query set with every image a flat grey: nothing to match, no query can refine."""
    import shutil

    import imageio.v3 as iio

    data = tmp_path / "grey"
    shutil.copytree(root / "data", data)
    for png in (data / "test").glob("*.png"):
        iio.imwrite(png, np.full((CAM.height, CAM.width, 3), 128, np.uint8))
    return data


def _strict_json(line: str) -> dict:
    return json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


def test_a_run_that_refines_no_query_exits_2_saying_why_with_its_outputs_written(workdir, tmp_path, capsys):
    root, _, coarse = workdir
    out = tmp_path / "out"
    argv = ["refine", "--model", str(root / "scene.ply"), "--data", str(_grey_copy(root, tmp_path)), "--poses",
            str(root / "coarse.txt"), "--out", str(out), "--device", "cpu", "--matcher", "sift",
            "--no-recovery"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "gscpr refine: error: none of the 4 queries was refined (too_few_matches 4)" in err
    assert set(read_poses(out / "refined_poses.txt")) == set(coarse)  # the coarse poses kept, and said where
    records = [_strict_json(x) for x in (out / "results.jsonl").read_text().splitlines()]  # standard JSON
    assert len(records) == 4 and all(r["reproj_error"] is None for r in records)
    # No background given, no cfg_args: the Blender format's, white, behind renders and RGBA queries alike.
    assert json.loads((out / "config.json").read_text())["refine"]["background"] == [1.0, 1.0, 1.0]


def test_the_help_says_what_the_exit_status_means(capsys):
    with pytest.raises(SystemExit) as e:
        main(["refine", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert e.value.code == 0 and "exit status: 0 when at least one query was refined" in help_text
    assert "2 when an option or input cannot be used, when no coarse pose names an image" in help_text
    assert "or when no query could be refined" in help_text


def test_the_help_says_when_the_run_level_check_of_the_intrinsics_can_trip(capsys):
    with pytest.raises(SystemExit):
        main(["refine", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "over 11 or more refined queries of one camera, check that their matches agree with its focal" in help_text


def test_no_coarse_pose_naming_an_image_exits_2_with_a_name_from_each_side(workdir, tmp_path, capsys):
    root, _, coarse = workdir
    write_poses(tmp_path / "other.txt", {f"elsewhere/{i}.jpg": p for i, p in enumerate(coarse.values())})
    argv = ["refine", "--model", str(root / "scene.ply"), "--data", str(root / "data"), "--poses",
            str(tmp_path / "other.txt"), "--out", str(tmp_path / "out"), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("gscpr refine: error: none of the 5 coarse poses in") and "'elsewhere/0.jpg'" in line
    assert "'test/r_0.png'" in line and "--scheme" in line
    assert "(any split)" in line and "None" not in line  # no --split: every frame the poses name, in any split
    out = tmp_path / "out"  # refused before anything is written (the folder was checked and locked first)
    assert not out.exists() or [f.name for f in out.iterdir()] in ([], [LOCK_FILE])


@pytest.mark.parametrize(
    "extra, said",
    [
        (["--relative", "--solver", "poselib"], "--solver poselib is the PnP solver of absolute refinement"),
        (["--relative-solver", "essential"], "--relative-solver essential is for GS-CPR_rel: add --relative"),
    ],
)
def test_a_solver_for_the_variant_that_does_not_run_is_refused(workdir, tmp_path, capsys, extra, said):
    root, _, _ = workdir
    assert main([*refine_args(root), "--out", str(tmp_path / "o"), "--device", "cpu", *extra]) == 2
    assert said in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_summary_says_the_confidences_and_each_unverified_query():
    from gscpr.pipeline import _confidence_lines

    records = {"a": {"status": "refined", "confidence": 0.98}, "b": {"status": "refined", "confidence": 0.9},
               "c": {"status": "unverified", "confidence": 0.1, "message": "verification: confidence 0.10 < 0.31"},
               "d": {"status": "too_few_matches", "confidence": None}}  # fmt: skip
    lines = _confidence_lines(list(records), records)
    assert "median 0.94, lowest 0.90 over the 2 refined" in lines[0]
    assert lines[1].startswith("unverified, the solved pose not trusted (1):") and "c: verification" in lines[1]
    # no query refined and no confidence: no paragraph
    assert _confidence_lines(["d"], {"d": records["d"]}) == []
    # verification off, or an older run's records kept by a resume: said, not left out
    bare = {"e": {"status": "refined"}, "f": {"status": "refined", "confidence": None}}
    (line,) = _confidence_lines(list(bare), bare)
    assert line.startswith("no confidence recorded for 2 refined") and "unverified" in line
    mixed = {**records, "e": bare["e"]}
    lines = _confidence_lines(list(mixed), mixed)
    assert "over the 2 refined; no confidence recorded for 1 refined" in lines[0]


def test_a_run_without_a_model_never_says_the_model_changed(tmp_path):
    """Neither run had a model: a render gone from disk (now made on the fly, or failing) changes the render file,
    not the model; with a model, where the query renders decides whether the model counts."""
    from gscpr.pipeline import query_fingerprint
    from gscpr.queries import Query
    from gscpr.records import changed_parts

    rgb, depth = tmp_path / "q.png", tmp_path / "q.npy"
    rgb.write_bytes(b"x")
    np.save(depth, np.ones((2, 2), np.float32))
    on_disk = Query("q.png", tmp_path / "q.png", Camera.centered(2, 2, 1.0), np.eye(4), render_files=(rgb, depth))
    gone = Query("q.png", tmp_path / "q.png", Camera.centered(2, 2, 1.0), np.eye(4))
    before = {"fingerprint": query_fingerprint(on_disk, "opts", None, False)}
    assert changed_parts(before, query_fingerprint(gone, "opts", None, False)) == ["render file"]
    assert changed_parts(before, query_fingerprint(on_disk, "opts", None, True)) == []  # --iterations 2, no model
    with_model = {"fingerprint": query_fingerprint(on_disk, "opts", "m1", False)}
    assert changed_parts(with_model, query_fingerprint(gone, "opts", "m1", False)) == ["model", "render file"]
    assert changed_parts(with_model, query_fingerprint(on_disk, "opts", "m2", False)) == []  # the model unused


def test_a_failed_query_turned_by_its_exif_orientation_says_so_in_its_record(tmp_path):
    """Read as stored, a photo turned on display by its EXIF orientation rarely matches its render: the failure's
    message names the orientation; an ordinary failure's does not."""
    from PIL import Image

    from gscpr.match import Matches
    from gscpr.pipeline import refine_queries
    from gscpr.queries import Query
    from gscpr.refine import RefineConfig

    class NoMatches:
        name, device, max_size = "none", "cpu", None

        def match(self, image0, image1):
            return Matches.empty()

    rng = np.random.default_rng(0)
    queries = []
    for name, orientation in (("turned.jpg", 6), ("plain.jpg", None)):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        exif = Image.Exif()
        if orientation:
            exif[0x0112] = orientation
        Image.fromarray(pixels).save(tmp_path / name, exif=exif.tobytes())
        Image.fromarray(pixels).save(tmp_path / f"render_{name}")
        np.save(tmp_path / f"render_{name}.npy", np.full((32, 32), 2.0, np.float32))
        files = (tmp_path / f"render_{name}", tmp_path / f"render_{name}.npy")
        queries.append(Query(name, tmp_path / name, Camera.centered(32, 32, 30.0), np.eye(4), render_files=files))
    cfg = RefineConfig(iterations=1, recovery=(), verify=False)
    records = refine_queries(None, queries, NoMatches(), cfg, tmp_path / "out", progress=False)
    assert records["turned.jpg"]["status"] == records["plain.jpg"]["status"] == "too_few_matches"
    assert "EXIF orientation 6 shows it rotated 90°" in records["turned.jpg"]["message"]
    assert "EXIF" not in records["plain.jpg"]["message"]


@pytest.fixture(scope="module")
def focal_runs(tmp_path_factory):
    """Twelve room queries refined twice: with their right intrinsics and with a focal length 20 % too long (the
    Blender folder's ``camera_angle_x`` narrowed), each in its own output folder. Returns (root, coarse, runs)
    with ``runs[factor] = (exit status, stderr)``."""
    import math
    import shutil

    root, cam = tmp_path_factory.mktemp("focal"), CAM
    _, gt = write_room_queries(root, cam, 12, seed=7)
    coarse = {n: perturb_pose(p, 3.0, 0.05, frame="world", rng=i) for i, (n, p) in enumerate(gt.items())}
    write_poses(root / "coarse.txt", coarse)
    meta = json.loads((root / "data" / "transforms_test.json").read_text())
    runs = {}
    for factor in (1.0, 1.2):
        data = root / f"data{factor}"
        shutil.copytree(root / "data", data)
        meta["camera_angle_x"] = 2 * math.atan(cam.width / (2 * factor * cam.fx))
        (data / "transforms_test.json").write_text(json.dumps(meta))
        args = [*refine_args(root, data), "--out", str(root / f"out{factor}"), "--device", "cpu"]
        runs[factor] = args
    return root, coarse, runs


def test_a_wrong_focal_length_is_caught_over_the_run_and_no_pose_is_refined(focal_runs, capsys):
    root, coarse, runs = focal_runs
    assert main(runs[1.2]) == 2  # none refined
    err = capsys.readouterr().err
    assert "run check" in err and "intrinsics look wrong" in err and "12 of 12 shorter" in err
    out = root / "out1.2"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 12 and {r["status"] for r in records} == {"unverified"}
    for r in records:  # each one: the reason, the check's numbers, the solved pose kept aside, the coarse pose out
        assert "intrinsics look wrong" in r["message"] and r["intrinsics_check"]["suspect"]
        assert r["solved_qvec"] is not None and r["confidence"] > 0.5  # the per-query check alone let it through
    refined = read_poses(out / "refined_poses.txt")
    for name, pose in coarse.items():
        np.testing.assert_allclose(refined[name], pose, atol=1e-6)
    assert "intrinsics look wrong" in (out / "summary.md").read_text()
    # Resumed: nothing redone, the check decided again on the same records, the same outcome.
    before = (out / "results.jsonl").read_text()
    assert main(runs[1.2]) == 2
    assert (out / "results.jsonl").read_text() == before


def test_a_focal_length_15_percent_long_is_caught_over_14_queries_with_one_view_of_a_wall(tmp_path, capsys):
    """Query 13 of this set looks at one wall: OpenCV's focal fit there diverges (its RMS 70 x the pose's). Counted,
    its sign made 13 of 14 (p = 0.002) and the check stayed silent on 14 poses each ~40 cm off."""
    import math

    _, gt = write_room_queries(tmp_path, CAM, 14, seed=7)
    coarse = {n: perturb_pose(p, 3.0, 0.05, frame="world", rng=i) for i, (n, p) in enumerate(gt.items())}
    write_poses(tmp_path / "coarse.txt", coarse)
    meta_file = tmp_path / "data" / "transforms_test.json"
    meta = json.loads(meta_file.read_text())
    meta["camera_angle_x"] = 2 * math.atan(CAM.width / (2 * 1.15 * CAM.fx))
    meta_file.write_text(json.dumps(meta))
    assert main([*refine_args(tmp_path), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "intrinsics look wrong" in err and "its 14 refined queries are unverified" in err  # counted fits or not
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert {r["status"] for r in records} == {"unverified"}
    assert sum(r["verify"]["focal_log_ratio"] is None for r in records) <= 2


def test_the_run_check_demotes_only_the_camera_whose_focal_length_is_off(tmp_path):
    """Two cameras in one run, 12 refined queries each: one's fits scatter around its focal length, the other's ask
    for a 10 % longer one. Only the second's queries become unverified, and the log names that camera once."""
    from gscpr.pipeline import check_intrinsics
    from gscpr.queries import Query
    from gscpr.refine import RefineConfig

    rng = np.random.default_rng(0)
    right, wrong = Camera.centered(240, 180, 200.0), Camera.centered(240, 180, 180.0)
    queries, records = [], {}
    for cam, tag, bias in ((right, "a", 0.0), (wrong, "b", 0.1)):
        for i in range(12):
            q = Query(f"{tag}{i}.png", tmp_path / f"{tag}{i}.png", cam, np.eye(4))
            queries.append(q)
            ratio = bias + rng.normal(0, 0.005)
            records[q.name] = {"name": q.name, "status": "refined", "message": "", "qvec": [1.0, 0, 0, 0],
                               "tvec": [0.1, 0, 0], "verify": {"focal_log_ratio": ratio}, "confidence": 0.99,
                               "timings": {}}  # fmt: skip
    said = []
    out = check_intrinsics(tmp_path, queries, records, RefineConfig(), log=said.append)
    assert {out[f"a{i}.png"]["status"] for i in range(12)} == {"refined"}
    assert {out[f"b{i}.png"]["status"] for i in range(12)} == {"unverified"}
    assert out["b0.png"]["tvec"] == [0.0, 0.0, 0.0] and out["b0.png"]["solved_tvec"] == [0.1, 0, 0]  # coarse kept
    assert len(said) == 1 and "f 180 px" in said[0] and "12 of 12 longer" in said[0]
    assert "its 12 refined queries are unverified, the coarse poses kept" in said[0]
    # summary.md gives the camera's reason once, not once per query
    from gscpr.pipeline import write_outputs

    summary = write_outputs(tmp_path, queries, out, "two cameras")
    assert "24 queries: refined 12, unverified 12" in summary and summary.count("run check") == 1
    assert "- b0.png, b1.png, b2.png and 9 more: run check: the matches of 12 refined queries" in summary


def test_the_right_focal_length_passes_the_run_check(focal_runs, capsys):
    root, _, runs = focal_runs
    assert main(runs[1.0]) == 0
    assert "run check" not in capsys.readouterr().err
    records = [json.loads(line) for line in (root / "out1.0" / "results.jsonl").read_text().splitlines()]
    assert {r["status"] for r in records} == {"refined"} and not any("intrinsics_check" in r for r in records)
    assert all(abs(r["verify"]["focal_log_ratio"]) < 0.01 for r in records)


def test_the_run_check_keeps_the_refined_poses_flagged_when_asked_and_undoes_itself(focal_runs):
    from dataclasses import replace

    from gscpr.data import load_dataset
    from gscpr.pipeline import check_intrinsics
    from gscpr.queries import build_queries
    from gscpr.records import read_records, solved_pose
    from gscpr.refine import RefineConfig

    root, coarse, runs = focal_runs
    out = root / "out1.2"
    if not (out / "results.jsonl").is_file():
        assert main(runs[1.2]) == 2
    queries, _ = build_queries(load_dataset(root / "data1.2", "test"), coarse)
    records = read_records(out / "results.jsonl")
    solved = {n: solved_pose(r) for n, r in records.items()}
    kept = check_intrinsics(out, queries, records, replace(RefineConfig(), keep_unverified=True), log=lambda m: None)
    for name, rec in kept.items():  # the refined pose is the output, flagged; nothing set aside
        assert rec["status"] == "unverified" and "solved_qvec" not in rec
        np.testing.assert_allclose(solved_pose(rec), solved[name], atol=1e-9)
    assert read_records(out / "results.jsonl") == kept  # written as returned
    # With the check's level out of reach nothing is suspect: every pose is restored as it was refined.
    from unittest import mock

    with (
        mock.patch("gscpr.refine.intrinsics.ALPHA", 1e-300),
        mock.patch("gscpr.refine.intrinsics.focal_check.__defaults__", (0.01, 1e-300)),
    ):
        restored = check_intrinsics(out, queries, read_records(out / "results.jsonl"), RefineConfig(), lambda m: None)
    assert {r["status"] for r in restored.values()} == {"refined"}
    assert not any("intrinsics_check" in r or "solved_qvec" in r for r in restored.values())
    assert all("intrinsics look wrong" not in r["message"] for r in restored.values())
    assert main(runs[1.2]) == 2  # and the command decides again: all unverified
