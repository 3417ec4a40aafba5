"""The paper's literal commands with the real mast3r code: one query through ``gs_cpr_7s.py`` and
``gs_cpr_7s_rel.py`` (``gscpr.paper.run.main``) on a generated 7-Scenes working directory, with a random-weight
MASt3R (tests/conftest.py). The pose of a random network is meaningless: the test holds the files, their
formats, the statuses, the options the paper recipe gives MASt3R and that GS-CPR_rel's solver really ran."""

import json
import re

import pytest

from gscpr.paper import run as paper_run
from gscpr.poses import read_poses
from gscpr.solvers.relative_mast3r import Mast3rPairSolver

from .fixtures import make_7scenes_with_renders

NAME = "seq-03-frame-000000.color.png"
LINE = re.compile(r"^\S+( -?\d+(\.\d+)?(e-?\d+)?){7}$")


@pytest.fixture
def spies(monkeypatch):
    """The matcher options each run loads, and the mast3r-pair solver's calls."""
    loaded, solved = [], []
    load, solve = paper_run.load_matcher, Mast3rPairSolver.solve_pointmaps

    def load_matcher(name, device=None, **options):
        loaded.append((name, options))
        return load(name, device, **options)

    def solve_pointmaps(self, pair, options=None):
        est = solve(self, pair, options)
        solved.append(est)
        return est

    monkeypatch.setattr(paper_run, "load_matcher", load_matcher)
    monkeypatch.setattr(Mast3rPairSolver, "solve_pointmaps", solve_pointmaps)
    return loaded, solved


def snapshot(folder):
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_gs_cpr_7s_and_rel_write_the_originals_files_apart(tiny_mast3r, tmp_path, spies):
    loaded, solved = spies
    make_7scenes_with_renders(tmp_path, "chess", "ace", [NAME])
    argv = ["--pose_estimator", "ace", "--scene", "chess", "--matcher_checkpoint", str(tiny_mast3r),
            "--root", str(tmp_path), "--device", "cpu"]  # fmt: skip
    outputs = tmp_path / "outputs" / "7scenes"

    status = paper_run.main("7scenes", argv=argv)  # gs_cpr_7s.py: --recipe paper, MASt3R by default
    absolute = outputs / "GS_CPR_ace_results"
    lines = (absolute / "refine_predictions" / "ace_refinew2c_mast3r_chess.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(NAME + " ") and LINE.match(lines[0])
    log = (absolute / "logs_chess.log").read_text()
    assert "--------------GS-CPR for ace:chess--------------" in log and "After refine Accuracy:" in log
    (record,) = [json.loads(x) for x in (absolute / "refine_predictions" / "chess" / "results.jsonl").open()]
    assert record["name"] == NAME and record["status"] in {"refined", "pnp_failed", "too_few_inliers",
                                                           "too_few_matches", "too_few_valid_depth"}  # fmt: skip
    assert status == (0 if record["status"] == "refined" else 2)  # nothing refined: exit 2, the files written
    assert loaded[-1] == ("mast3r", {"resize": "pil", "keypoints": "original", "checkpoint": str(tiny_mast3r)})
    assert solved == []  # the absolute variant never calls the relative solver
    before = snapshot(absolute)

    status = paper_run.main("7scenes", relative=True, argv=argv)  # gs_cpr_7s_rel.py
    assert snapshot(absolute) == before  # the absolute run's folder untouched, not resumed from
    rel = outputs / "GS_CPR_rel_ace_results"
    poses = read_poses(rel / "refine_predictions" / "ace_refinew2c_mast3r_chess.txt")
    assert list(poses) == [NAME] and LINE.match((rel / "refine_predictions" / "ace_refinew2c_mast3r_chess.txt")
                                                .read_text().strip())  # fmt: skip
    log = (rel / "logs_chess.log").read_text()
    assert "--------------GS-CPR_rel for ace:chess--------------" in log and "GS-CPR for" not in log
    assert loaded[-1][1]["pairwise"] is True and loaded[-1][1]["resize"] == "pil"
    assert loaded[-1][1]["correspondences"] is False  # the original's _rel matches nothing
    assert len(solved) == 1  # GS-CPR_rel's pose came from MASt3R's pointmaps (mast3r-pair)
    (record,) = [json.loads(x) for x in (rel / "refine_predictions" / "chess" / "results.jsonl").open()]
    expected = "refined" if solved[0] is not None else "relative_pose_failed"
    assert record["status"] in {expected, "too_few_valid_depth", "too_few_inliers"}
    assert status == (0 if record["status"] == "refined" else 2)


def camera_pair(pair, relative):
    """``pair`` with its points replaced by two cameras' views of a slanted surface (focal 300 px at the working
    size, principal point at the centre, ``relative`` = camera 0 -> camera 1), the network's confidences kept:
    a random MASt3R's own points are no camera's (negative focal, depth below 0.1)."""
    import dataclasses

    import numpy as np

    from gscpr.geometry import invert_pose

    def backproject(i, depth_of):
        h, w = pair.shape(i)
        u, v = np.meshgrid(np.arange(w) - w / 2, np.arange(h) - h / 2)
        z = depth_of(u / w, v / h)
        return np.stack([u * z / 300.0, v * z / 300.0, z], axis=-1).astype(np.float32)

    def move(pts, T):
        return (pts @ T[:3, :3].T + T[:3, 3]).astype(np.float32)

    own0 = backproject(0, lambda x, y: 1.0 + 0.3 * x + 0.1 * y)
    own1 = backproject(1, lambda x, y: 1.2 - 0.2 * y)
    return dataclasses.replace(pair, pts_self=(own0, own1),
                               pts_other=(move(own0, relative), move(own1, invert_pose(relative))))  # fmt: skip


def test_gs_cpr_7s_rel_composes_the_scaled_relative_pose_into_the_world_frame(tiny_mast3r, tmp_path, monkeypatch):
    """GS-CPR_rel's successful path with the real network: the tiny random MASt3R runs, its confidences (below
    DUSt3R's threshold of 3: the threshold is lowered here) kept and its points replaced by two cameras' views
    (:func:`camera_pair`). The pose written must be the solver's render -> query transform (the injected one),
    its translation times median(rendered depth / MASt3R depth of the render) over the pixels where both exceed
    0.1 at the working size, composed with the render's (coarse) w2c, in the original's format."""
    import cv2
    import numpy as np

    from gscpr.geometry import make_pose
    from gscpr.match.mast3r import Mast3rMatcher
    from gscpr.paper import render_dir
    from gscpr.solvers import relative_mast3r

    monkeypatch.setattr(relative_mast3r, "MIN_CONFIDENCE", 0.0)
    relative = make_pose(cv2.Rodrigues(np.array([0.02, -0.03, 0.01]))[0], np.array([0.05, -0.02, 0.01]))
    pointmaps = Mast3rMatcher._pointmaps
    monkeypatch.setattr(Mast3rMatcher, "_pointmaps", staticmethod(
        lambda p1, p2, g: camera_pair(pointmaps(p1, p2, g), relative)))  # fmt: skip
    solved = []
    solve = Mast3rPairSolver.solve_pointmaps

    def solve_pointmaps(self, pair, options=None):
        est = solve(self, pair, options)
        solved.append((pair, est))
        return est

    monkeypatch.setattr(Mast3rPairSolver, "solve_pointmaps", solve_pointmaps)
    fixture = make_7scenes_with_renders(tmp_path, "chess", "ace", [NAME])
    argv = ["--pose_estimator", "ace", "--scene", "chess", "--matcher_checkpoint", str(tiny_mast3r),
            "--root", str(tmp_path), "--device", "cpu"]  # fmt: skip
    assert paper_run.main("7scenes", relative=True, argv=argv) == 0
    rel = tmp_path / "outputs" / "7scenes" / "GS_CPR_rel_ace_results" / "refine_predictions"
    (record,) = [json.loads(x) for x in (rel / "chess" / "results.jsonl").open()]
    [(pair, est)] = solved
    assert est is not None and record["status"] == "refined", record
    assert not (tmp_path / "outputs" / "7scenes" / "GS_CPR_ace_results").exists()
    np.testing.assert_allclose(est.pose, relative, atol=1e-3)  # the solver recovered the cameras' motion

    # The expected pose, from the solver's estimate and the render's depth file, computed here independently.
    depth = np.load(render_dir(tmp_path, "7scenes", "chess", "ace") / NAME.replace("png", "npy"))
    (rw, rh), (left, top) = pair.resized[0], pair.crop[0]
    h, w = pair.shape(0)
    depth = cv2.resize(depth, (rw, rh), interpolation=cv2.INTER_LINEAR)[top : top + h, left : left + w]
    ours = est.info["depth0"]
    np.testing.assert_allclose(ours, pair.pts_self[0][..., 2], atol=1e-4)  # the render's MASt3R depth
    valid = (depth > 0.1) & (ours > 0.1)
    scale = float(np.median(depth[valid] / ours[valid]))
    assert valid.all() and 1.5 < scale < 2.5  # metres per MASt3R unit here: rendered 2-2.5 m, MASt3R's 0.85-1.2
    scaled = est.pose.copy()
    scaled[:3, 3] *= scale
    expected = scaled @ fixture["coarse"][NAME]
    line = (rel / "ace_refinew2c_mast3r_chess.txt").read_text().strip()
    assert LINE.match(line) and line.startswith(NAME + " ")  # the original's format: name qw qx qy qz tx ty tz
    written = read_poses(rel / "ace_refinew2c_mast3r_chess.txt")[NAME]
    np.testing.assert_allclose(written, expected, atol=1e-5)
    assert not np.allclose(written, est.pose, atol=1e-2)  # a world pose, not the render-frame one the original wrote
