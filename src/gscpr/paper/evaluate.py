"""``gscpr eval`` on the paper's datasets: an estimator's shipped coarse poses (and, with ``--refined-dir``, the
paper scripts' refined poses) against the ground truth, scene by scene, with one log per scene::

    gscpr eval --dataset 7scenes --estimator ace --test_all \\
        --coarse-dir ../shared/data/gscpr_coarse_poses/coarse_poses --pgt-dir ../shared/data/visloc_pgt/pgt/sfm

Ground truth comes from the SfM pGT files (``<pgt-dir>/<dataset>/<scene>_test.txt``, 7-/12-Scenes) or, with
``--datasets-dir``, from ACE-layout scene folders (``test/poses``) or a Cambridge ``dataset_test.txt``. Names are
matched under the dataset's scheme; the thresholds are the paper's (Cambridge adds 50 cm and 15 cm at 5 deg). The
metrics, tables and log format are ``gscpr.evaluate``'s; this module is the ``--dataset`` mode of its command
(``cli.MODES``): its options join ``gscpr eval``'s, and :func:`run` takes the command when ``--dataset`` is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..evaluate import (
    CAMBRIDGE_THRESHOLDS,
    DEFAULT_THRESHOLDS,
    SceneResult,
    evaluate_scene,
    load_ground_truth,
    report_results,
    write_log,
)
from ..poses import PoseFileError, UnknownNameError, read_cambridge_split, read_poses
from .datasets import DATASETS, PaperDataset, get_dataset
from .naming import find_refined_file, log_file

__all__ = ["add_arguments", "claims", "dataset_ground_truth", "evaluate_args", "evaluate_dataset", "run", "write_logs"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``a paper dataset`` option group of ``gscpr eval``."""
    paper = parser.add_argument_group("a paper dataset")
    paper.add_argument("--dataset", choices=sorted(DATASETS), help="evaluate an estimator's shipped coarse poses")
    paper.add_argument("--estimator", "--pose_estimator", dest="estimator", help="ace, glace, marepo or dfnet")
    paper.add_argument("--test_all", "--test-all", dest="test_all", action="store_true", help="every scene")
    paper.add_argument(
        "--coarse-dir",
        type=Path,
        default=Path("coarse_poses"),
        help="the original's coarse_poses/ folder (here: ../shared/data/gscpr_coarse_poses/coarse_poses)",
    )
    paper.add_argument(
        "--pgt-dir",
        type=Path,
        default=Path("datasets/visloc_pgt/pgt/sfm"),
        help="SfM pGT files with 7scenes/ and 12scenes/ (here: ../shared/data/visloc_pgt/pgt/sfm)",
    )
    paper.add_argument("--datasets-dir", type=Path, help="ACE-layout datasets/ folder (ground truth from test/poses)")
    paper.add_argument("--refined-dir", type=Path, help="GS_CPR_<estimator>_results folder with refine_predictions/")
    paper.add_argument("--log-dir", type=Path, help="write logs_<scene>.log here, one file per scene")


def dataset_ground_truth(
    ds: PaperDataset, scene: str, pgt_dir: Path | None, datasets_dir: Path | None
) -> dict[str, np.ndarray]:
    """``{name: w2c}`` of a scene's test images: from ``datasets_dir`` when given (ACE layout, or Cambridge's
    ``dataset_test.txt``), else from the SfM pGT file under ``pgt_dir`` (7-/12-Scenes only).

    Raises ``FileNotFoundError`` when the source is missing or does not apply (Cambridge without ``datasets_dir``).
    """
    if datasets_dir is not None:
        scene_dir = ds.scene_dir(datasets_dir, scene)
        if (scene_dir / "test" / "poses").is_dir():
            return load_ground_truth(scene_dir)
        if (scene_dir / "dataset_test.txt").is_file():
            return read_cambridge_split(scene_dir / "dataset_test.txt")
        raise FileNotFoundError(f"{scene_dir}: no test/poses (ACE layout) or dataset_test.txt")
    if ds.name == "cambridge":
        raise FileNotFoundError("Cambridge ground truth comes from the datasets: pass --datasets-dir")
    if pgt_dir is None:
        raise FileNotFoundError("pass --pgt-dir (the SfM pGT files) or --datasets-dir (ACE-layout folders)")
    return read_poses(Path(pgt_dir) / ds.name / f"{scene}_test.txt")


def evaluate_dataset(
    dataset: str,
    estimator: str,
    scenes: Sequence[str],
    coarse_dir: str | Path,
    pgt_dir: str | Path | None = None,
    datasets_dir: str | Path | None = None,
    refined_dir: str | Path | None = None,
    thresholds: Sequence[tuple[float, float]] | None = None,
) -> tuple[list[SceneResult], list[SceneResult] | None]:
    """Initial (and, with ``refined_dir``, refined) accuracy of a paper estimator on scenes of a dataset."""
    ds = get_dataset(dataset)
    ds.check_estimator(estimator)
    thresholds = thresholds or (CAMBRIDGE_THRESHOLDS if ds.name == "cambridge" else DEFAULT_THRESHOLDS)
    initial, refined = [], [] if refined_dir is not None else None
    for scene in scenes:
        ds.check_scene(scene)
        gt = dataset_ground_truth(
            ds, scene, Path(pgt_dir) if pgt_dir else None, Path(datasets_dir) if datasets_dir else None
        )
        coarse = read_poses(ds.coarse_pose_file(coarse_dir, estimator, scene))
        initial.append(evaluate_scene(coarse, gt, scene, estimator, thresholds, ds.name_scheme))
        if refined is not None:
            poses = read_poses(find_refined_file(refined_dir, estimator, scene))
            refined.append(evaluate_scene(poses, gt, scene, estimator, thresholds, ds.name_scheme))
    return initial, refined


def evaluate_args(args: argparse.Namespace) -> tuple[list[SceneResult], list[SceneResult] | None, str]:
    """``gscpr eval --dataset ...``: ``(initial, refined or None, table title)``.

    Raises ``ValueError`` when ``--estimator`` or the scene choice (``--scene`` / ``--test_all``) is missing.
    """
    ds = get_dataset(args.dataset)
    if not args.estimator:
        raise ValueError("--dataset needs --estimator (ace, glace, marepo or dfnet)")
    if not args.test_all and not args.scene:
        raise ValueError("--dataset needs --scene NAME or --test_all")
    scenes = ds.scenes if args.test_all else [args.scene]
    initial, refined = evaluate_dataset(
        ds.name, args.estimator, scenes, args.coarse_dir, args.pgt_dir, args.datasets_dir, args.refined_dir,
        args.thresholds,
    )  # fmt: skip
    title = f"{ds.name} · {args.estimator}" + (" · before → after refinement" if refined else " · coarse poses")
    return initial, refined, title


def write_logs(
    log_dir: str | Path, estimator: str, initial: Sequence[SceneResult], refined: Sequence[SceneResult] | None
) -> None:
    """One ``logs_<scene>.log`` per scene under ``log_dir``, in the original's format."""
    for i, r in enumerate(initial):
        write_log(log_file(log_dir, r.scene), r.scene, estimator, r, refined[i] if refined else None)


def claims(args: argparse.Namespace) -> bool:
    """Whether a ``gscpr eval`` command line is this mode's (``--dataset`` given)."""
    return bool(args.dataset)


def run(args: argparse.Namespace) -> int:
    """``gscpr eval --dataset ...``: print the table, write ``--json`` and, with ``--log-dir``, the logs."""
    try:
        initial, refined, title = evaluate_args(args)
        report_results(initial, refined, title, args.json)
        if args.log_dir:
            write_logs(args.log_dir, args.estimator, initial, refined)
    except (PoseFileError, UnknownNameError, FileNotFoundError, ValueError) as e:
        print(f"gscpr eval: error: {e}", file=sys.stderr)
        return 2
    return 0
