"""gscpr eval on a paper dataset (--dataset) on generated files; the shipped coarse poses: test_evaluate_real.py."""

import numpy as np

from gscpr.cli import main


def test_dataset_mode_errors_exit_2_with_a_message(capsys):
    assert main(["eval", "--dataset", "12scenes", "--estimator", "dfnet", "--test_all"]) == 2
    assert "no 'dfnet' coarse poses for 12scenes" in capsys.readouterr().err


def test_dataset_mode_reads_what_the_paper_scripts_write(tmp_path, capsys):
    """--refined-dir finds ``<pe>_refinew2c_mast3r_<scene>.txt`` where gs_cpr_*.py writes it; --log-dir writes
    one log per scene with the before and after parts."""
    from gscpr.geometry import make_pose, perturb_pose, qvec_to_rotmat
    from gscpr.paper import get_dataset
    from gscpr.paper.naming import refined_file, results_dir
    from gscpr.poses import write_poses

    rng = np.random.default_rng(0)
    names = [f"seq-01/frame-{i:06d}.color.png" for i in range(6)]
    gt = {n: make_pose(qvec_to_rotmat(rng.normal(size=4)), rng.normal(size=3)) for n in names}
    write_poses(tmp_path / "pgt" / "7scenes" / "chess_test.txt", gt, fmt="pgt", focal=dict.fromkeys(gt, 525.0))
    flat = [n.replace("/", "-") for n in names]  # ACE's names, as the coarse and refined files spell them
    coarse = dict(zip(flat, perturb_pose(np.stack(list(gt.values())), 3.0, 0.04, frame="world", rng=1), strict=True))
    refined = dict(zip(flat, perturb_pose(np.stack(list(gt.values())), 0.2, 0.002, frame="world", rng=2), strict=True))
    write_poses(get_dataset("7scenes").coarse_pose_file(tmp_path / "coarse", "ace", "chess"), coarse)
    results = results_dir(tmp_path / "outputs", "7scenes", "ace")
    write_poses(refined_file(results, "ace", "chess"), refined)
    args = ["eval", "--dataset", "7scenes", "--estimator", "ace", "--scene", "chess", "--coarse-dir",
            str(tmp_path / "coarse"), "--pgt-dir", str(tmp_path / "pgt"), "--refined-dir", str(results),
            "--log-dir", str(tmp_path / "logs")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "### 7scenes · ace · before → after refinement" in out
    assert "| chess | 6 | 100.0 → 100.0 | 100.0 → 100.0 | 0.0 → 100.0 | 0.0 → 100.0 |" in out
    assert (tmp_path / "logs" / "logs_chess.log").read_text().count("After refine") == 2
