"""`gscpr demo` on the embedded scene: runs on the CPU with nothing downloaded, and refinement works."""

import numpy as np
import pytest

from gscpr.cli import main
from gscpr.demo import demo_scene_dir, run_demo
from gscpr.poses import read_poses


def test_embedded_scene_is_installed():
    root = demo_scene_dir()
    assert (root / "mic.ply").stat().st_size < 4 * 2**20  # small enough to ship in the wheel
    assert len(list((root / "test").glob("*.jpg"))) == 8
    assert "CC-0" in (root / "SOURCE.md").read_text()


def test_demo_refines_every_view(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| refined |" in text and "8 of 8 refined" in text
    assert len(read_poses(out / "refined_poses.txt")) == 8 == len(read_poses(out / "coarse_poses.txt"))
    assert len(list((out / "overlays").glob("*.jpg"))) == 8
    assert (out / "summary.md").read_text().strip() == text.strip()


def test_demo_result_and_seed(tmp_path):
    r = run_demo(tmp_path / "a", rot_deg=4.0, trans=0.15, seed=1, progress=False)
    assert np.allclose(r["before"], [[4.0, 0.15]] * 8, atol=1e-6)
    rot, trans = np.median(r["after"], axis=0)
    assert rot < 0.3 and trans < 0.02  # from 4 deg / 0.15 units to a fraction of a degree / 0.5 % of distance
    again = run_demo(tmp_path / "a", rot_deg=4.0, trans=0.15, seed=1, progress=False)  # replaces the folder
    np.testing.assert_allclose(again["after"], r["after"], atol=1e-9)  # deterministic on the CPU


def test_demo_never_removes_a_folder_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("precious")
    assert main(["demo", "--out", str(mine)]) == 2
    assert "holds files that no gscpr demo wrote" in capsys.readouterr().err
    assert (mine / "keep.txt").read_text() == "precious"
    # Bad options are refused before anything is touched, and a file in the way is one clear line.
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--out", str(mine), "--iterations", "0"])
    assert exit_.value.code == 2 and (mine / "keep.txt").exists()
    assert "--iterations: '0' is out of range; expected a whole number >= 1" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["demo", "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    (mine / "summary.md").write_text("gscpr demo: 8 views ...")  # what a demo before the marker left: replaced
    assert main(["demo", "--out", str(mine), "--iterations", "1"]) == 0 and not (mine / "keep.txt").exists()
