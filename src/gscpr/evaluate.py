"""Pose accuracy: per-scene errors and rates, dataset averages, paper-style tables and the original's logs.

Conventions (see ``geometry.py``): rotation error = angle of ``R_est R_gt^T`` in degrees, translation error =
camera-centre distance in metres; a query is within ``t cm / r deg`` when *both* errors are strictly below.
Ground-truth images without a prediction count as failures (infinite error) in the rates and are reported.
A dataset figure is the mean of the per-scene figures, as in the paper.

Command line::

    gscpr eval --poses refined.txt --gt pgt/sfm/7scenes/chess_test.txt
    gscpr eval --poses out/refined_poses.txt --gt ... --records out/results.jsonl   # + the accepted queries
    gscpr eval --dataset 7scenes --estimator ace --test_all \\
        --coarse-dir ../shared/data/gscpr_coarse_poses/coarse_poses --pgt-dir ../shared/data/visloc_pgt/pgt/sfm

With the run's records (``--records``; by default the ``results.jsonl`` beside ``--poses``, where there is one
and its poses are those of ``--poses``),
the accuracy of the *accepted* queries (status ``refined``: verified) is given too, with the acceptance rate and,
per threshold, the precision of ``refined`` (its success rate over the accepted queries) and its recall (of the
queries whose solved pose is within, the share accepted): :func:`acceptance_results`.

The paper's datasets (``--dataset``, the dataset ground truth, ``--refined-dir``, ``--log-dir``) are
``gscpr.paper.evaluate``'s, a mode of this command (``gscpr.cli.MODES``): this module never imports it.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .geometry import pose_errors
from .outputs import write_json, write_text
from .poses import NAME_SCHEMES, PoseFileError, UnknownNameError, align_names, read_cambridge_split, read_poses
from .text import plural

__all__ = [
    "CAMBRIDGE_THRESHOLDS",
    "DEFAULT_THRESHOLDS",
    "SceneResult",
    "acceptance_results",
    "average_results",
    "evaluate_scene",
    "format_table",
    "load_ground_truth",
    "pose_errors_by_name",
    "report_results",
    "threshold_label",
    "within",
    "write_log",
]

#: ``(translation in metres, rotation in degrees)`` pairs; the paper's 7-/12-Scenes thresholds.
DEFAULT_THRESHOLDS: tuple[tuple[float, float], ...] = ((0.10, 5.0), (0.05, 5.0), (0.02, 2.0), (0.01, 1.0))
#: Cambridge papers also report these coarser thresholds.
CAMBRIDGE_THRESHOLDS: tuple[tuple[float, float], ...] = ((0.50, 5.0), (0.15, 5.0), *DEFAULT_THRESHOLDS)


def within(rot_deg, trans, max_rot_deg: float, max_trans: float) -> np.ndarray:
    """The success criterion, used everywhere: rotation error strictly below ``max_rot_deg`` (degrees) *and*
    translation error strictly below ``max_trans`` (the units of ``trans``: metres, scene units, or a share of a
    distance when both are). Arrays (or scalars) broadcast; returns a bool array (0-d for scalars)."""
    return (np.asarray(rot_deg) < max_rot_deg) & (np.asarray(trans) < max_trans)


def threshold_label(t_m: float, r_deg: float) -> str:
    """``(0.05, 5) -> "5cm/5deg"``, the original's spelling."""
    return f"{t_m * 100:g}cm/{r_deg:g}deg"


@dataclass
class SceneResult:
    """Accuracy of one set of poses on one scene.

    ``rates`` maps a threshold label to the percentage of ground-truth images within it; medians and means
    are over the predicted images (``n``); ``n_missing`` images had no prediction and count as failures.
    """

    scene: str
    n: int
    n_missing: int
    median_t: float
    median_r: float
    mean_t: float
    mean_r: float
    rates: dict[str, float]
    estimator: str = ""
    names: list[str] = field(default_factory=list, repr=False)
    t_err: list[float] = field(default_factory=list, repr=False)
    r_err: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        """Everything but the per-query errors."""
        return {k: v for k, v in asdict(self).items() if k not in ("names", "t_err", "r_err")}


def pose_errors_by_name(
    pred: Mapping[str, np.ndarray], gt: Mapping[str, np.ndarray], scheme: str = "auto"
) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Errors of predicted w2c poses against ground truth, matching names under ``scheme``.

    Returns ``(names, rot_err_deg [n], trans_err [n], missing_gt_names)`` with ``names`` the predicted
    names in their input order. Raises ``UnknownNameError`` if a predicted name is not in the ground truth.
    """
    mapping, missing = align_names(pred, gt, scheme)
    names = list(mapping)
    if not names:
        return [], np.zeros(0), np.zeros(0), missing
    est = np.stack([pred[n] for n in names])
    ref = np.stack([gt[mapping[n]] for n in names])
    rot, trans = pose_errors(est, ref)
    return names, rot, trans, missing


def evaluate_scene(
    pred: Mapping[str, np.ndarray],
    gt: Mapping[str, np.ndarray],
    scene: str = "",
    estimator: str = "",
    thresholds: Sequence[tuple[float, float]] = DEFAULT_THRESHOLDS,
    scheme: str = "auto",
) -> SceneResult:
    """Accuracy of ``pred`` against ``gt`` (both ``{name: w2c 4x4}``) on one scene."""
    names, rot, trans, missing = pose_errors_by_name(pred, gt, scheme)
    total = len(names) + len(missing)
    if total == 0:
        raise ValueError(f"scene {scene!r}: no ground-truth images to evaluate")
    rates = {
        threshold_label(t, r): 100.0 * float(np.count_nonzero(within(rot, trans, r, t))) / total for t, r in thresholds
    }
    nan = float("nan")
    return SceneResult(
        scene=scene,
        n=len(names),
        n_missing=len(missing),
        median_t=float(np.median(trans)) if names else nan,
        median_r=float(np.median(rot)) if names else nan,
        mean_t=float(np.mean(trans)) if names else nan,
        mean_r=float(np.mean(rot)) if names else nan,
        rates=rates,
        estimator=estimator,
        names=names,
        t_err=trans.tolist(),
        r_err=rot.tolist(),
    )


def average_results(results: Sequence[SceneResult], scene: str = "Average") -> SceneResult:
    """The dataset figure: the mean of the per-scene figures (not pooled over queries), as in the paper."""
    if not results:
        raise ValueError("no scene results to average")
    labels = list(results[0].rates)
    return SceneResult(
        scene=scene,
        n=sum(r.n for r in results),
        n_missing=sum(r.n_missing for r in results),
        median_t=float(np.mean([r.median_t for r in results])),
        median_r=float(np.mean([r.median_r for r in results])),
        mean_t=float(np.mean([r.mean_t for r in results])),
        mean_r=float(np.mean([r.mean_r for r in results])),
        rates={k: float(np.mean([r.rates[k] for r in results])) for k in labels},
        estimator=results[0].estimator,
    )


def format_table(results: Sequence[SceneResult], refined: Sequence[SceneResult] | None = None, title: str = "") -> str:
    """A markdown table: one row per scene and an Average row; rates in %, median errors in cm and degrees.

    With ``refined`` (same scenes, same order), each cell reads ``before -> after``.
    """
    rows = [*results, average_results(results)] if len(results) > 1 else list(results)
    after = None
    if refined is not None:
        if [r.scene for r in refined] != [r.scene for r in results]:
            raise ValueError("refined results must cover the same scenes in the same order")
        after = [*refined, average_results(refined)] if len(refined) > 1 else list(refined)
    labels = list(results[0].rates)
    head = ["scene", "queries", *labels, "median cm", "median deg"]
    lines = [f"### {title}"] if title else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cells(r: SceneResult) -> list[str]:
        return [*(f"{r.rates[k]:.1f}" for k in labels), f"{r.median_t * 100:.2f}", f"{r.median_r:.3f}"]

    for i, r in enumerate(rows):
        values = cells(r)
        if after is not None:
            values = [f"{a} → {b}" for a, b in zip(values, cells(after[i]), strict=True)]
        count = f"{r.n + r.n_missing}" + (f" ({r.n_missing} missing)" if r.n_missing else "")
        lines.append("| " + " | ".join([r.scene, count, *values]) + " |")
    return "\n".join(lines)


def _vector(value, n: int) -> bool:
    """Whether a record's ``value`` is a list of ``n`` finite numbers (a ``qvec`` of 4, a ``tvec`` of 3)."""
    return (
        isinstance(value, list)
        and len(value) == n
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)
    )


def acceptance_results(
    records: Mapping[str, dict],
    pred: Mapping[str, np.ndarray],
    gt: Mapping[str, np.ndarray],
    scene: str = "",
    thresholds: Sequence[tuple[float, float]] = DEFAULT_THRESHOLDS,
    scheme: str = "auto",
) -> tuple[SceneResult | None, dict]:
    """What the ``refined`` status of a run's records (``{name: record}``, :mod:`gscpr.records`) is worth for the
    poses ``pred`` against ``gt``: the :class:`SceneResult` of the accepted (``refined``) queries alone (its rates
    are the precision of ``refined`` at each threshold; None when none is accepted), and ``{"queries",
    "accepted", "acceptance_rate", "without_record", "confidence_recorded", "precision": {label: ...}, "recall":
    {label: ...}}`` over the predicted queries that have a record (:func:`gscpr.calibration.acceptance`; the
    solved pose of an ``unverified`` query is the one its record keeps). Raises ``ValueError`` when no record
    names a predicted query."""
    from .calibration import acceptance
    from .records import solved_pose

    names, rot, trans, _ = pose_errors_by_name(pred, gt, scheme)
    mapping, _ = align_names(pred, gt, scheme)
    kept = [i for i, n in enumerate(names) if n in records]
    if not kept:
        raise ValueError(f"scene {scene!r}: no record names a query of the poses (records of another run?)")
    names, rot, trans = [names[i] for i in kept], rot[kept], trans[kept]
    recs = [records[n] for n in names]
    statuses = [r.get("status") for r in recs]
    solved = [solved_pose(r) for r in recs]
    solved_err = [pose_errors(p, gt[mapping[n]]) if p is not None else None for p, n in zip(solved, names, strict=True)]
    summary = {"precision": {}, "recall": {}}
    for t, r in thresholds:
        ok_solved = [bool(within(e[0], e[1], r, t)) if e is not None else None for e in solved_err]
        a = acceptance(statuses, within(rot, trans, r, t), ok_solved, [rec.get("confidence") for rec in recs])
        summary["precision"][threshold_label(t, r)] = a["precision"]
        summary["recall"][threshold_label(t, r)] = a["recall"]
    summary = {"queries": a["queries"], "accepted": a["accepted"], "acceptance_rate": a["acceptance_rate"],
               "without_record": len(pred) - len(kept), "confidence_recorded": a["confidence_recorded"],
               **summary}  # fmt: skip
    accepted = [n for n, s in zip(names, statuses, strict=True) if s == "refined"]
    if not accepted:
        return None, summary
    sub_gt = {mapping[n]: gt[mapping[n]] for n in accepted}
    return evaluate_scene({n: pred[n] for n in accepted}, sub_gt, scene, "", thresholds, scheme), summary


def format_acceptance(accepted: SceneResult | None, summary: dict) -> str:
    """The lines ``gscpr eval`` prints for :func:`acceptance_results`: the accepted queries' table (their rates
    are the precision of ``refined``), the recall per threshold, and whether a confidence was recorded."""
    pct = f"{100 * summary['acceptance_rate']:.1f} %" if summary["queries"] else "–"
    head = f"accepted (status refined): {summary['accepted']} of {plural(summary['queries'], 'query')} ({pct})"
    lines = [format_table([accepted], title=head + "; rates = precision of refined") if accepted else f"### {head}"]
    recall = ", ".join(f"{k} {'–' if v is None else f'{100 * v:.1f} %'}" for k, v in summary["recall"].items())
    lines.append(f"recall of refined (of the queries whose solved pose is within, the share accepted): {recall}")
    if summary["without_record"]:
        lines.append(f"{summary['without_record']} pose(s) without a record are left out of these figures")
    if not summary["confidence_recorded"]:
        lines.append("no confidence recorded (--no-verify, the paper recipe or an older run): refined is unverified")
    return "\n".join(lines)


def _log_lines(result: SceneResult) -> list[str]:
    return [f"\t{k}: {v:.1f}%" for k, v in result.rates.items()]


def write_log(
    path: str | Path,
    scene: str,
    estimator: str,
    initial: SceneResult,
    refined: SceneResult | None = None,
    method: str = "GS-CPR",
) -> None:
    """Write ``logs_<scene>.log`` in the original's format (one file per scene, overwritten); its header says
    ``<method> for <estimator>:<scene>`` (the original's ``_rel`` scripts: ``GS-CPR_rel``).

    Lines carry the original's logging prefix ``<time> - __main__ - INFO - ``. Without ``refined`` only the
    initial parts are written (there is nothing to report after refinement).
    """
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    msgs = ["Ini Accuracy:", *_log_lines(initial)]
    if refined is not None:
        msgs += ["After refine Accuracy:", *_log_lines(refined)]
    msgs += [
        f"--------------{method} for {estimator}:{scene}--------------",
        "Initial Precision:",
        f"Median error {initial.median_t}m and {initial.median_r} degrees.",
        f"Mean error {initial.mean_t}m and {initial.mean_r} degrees.",
    ]
    if refined is not None:
        msgs += [
            "After refine Precision:",
            f"Median error {refined.median_t}m and {refined.median_r} degrees.",
            f"Mean error {refined.mean_t}m and {refined.mean_r} degrees.",
        ]
    write_text(path, "".join(f"{stamp} - __main__ - INFO - {m}\n" for m in msgs))


# ----------------------------------------------------------------------------- ground truth sources
def load_ground_truth(source: str | Path) -> dict[str, np.ndarray]:
    """``{name: w2c}`` from a text pose file, a Cambridge split file or an ACE-layout scene folder.

    An ACE-layout folder (``<scene>/test/{rgb,poses,calibration}``, or the ``test`` folder itself) gives the
    names of its ``rgb`` images; a Cambridge ``dataset_*.txt`` gives ``seqN/frameM.png``.
    """
    from .data.ace import read_ace_split

    source = Path(source)
    if source.is_dir():
        if (source / "rgb").is_dir():
            frames = read_ace_split(source.parent, source.name)
        elif (source / "test" / "rgb").is_dir():
            frames = read_ace_split(source, "test")
        else:
            raise FileNotFoundError(f"{source}: not an ACE-layout scene (expected {source}/test/rgb and poses)")
        return {f.name: f.pose for f in frames}
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such ground-truth file or folder")
    with open(source, encoding="utf-8") as f:
        head = [f.readline() for _ in range(4)]
    if len(head[3].split()) == 8 and len(head[0].split()) != 8:  # three header lines, then 8 columns
        return read_cambridge_split(source)
    return read_poses(source)


# ----------------------------------------------------------------------------- command line
def _threshold(text: str) -> tuple[float, float]:
    try:
        t, r = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold {text!r} must be 'metres,degrees', e.g. 0.05,5") from None
    if not (t > 0 and r > 0 and math.isfinite(t) and math.isfinite(r)):
        raise argparse.ArgumentTypeError(f"threshold {text!r} must be positive")
    return t, r


def add_arguments(parser: argparse.ArgumentParser) -> None:
    single = parser.add_argument_group("one pose file")
    single.add_argument("--poses", type=Path, help="poses to evaluate (qt, pgt or ace text format, w2c)")
    single.add_argument("--gt", help="ground truth: a pose file, a Cambridge dataset_test.txt or an ACE-layout scene")
    single.add_argument("--coarse", type=Path, help="coarse poses, for a before -> after table")
    single.add_argument("--scene", help="scene name (with --dataset: evaluate this scene only)")
    single.add_argument(
        "--scheme",
        default="auto",
        choices=["auto", *NAME_SCHEMES],
        help="image-name scheme matching --poses to --gt (auto: guessed from the ground truth)",
    )
    single.add_argument("--log", type=Path, help="write the original's log format to this file")
    single.add_argument(
        "--records",
        type=Path,
        help="the run's results.jsonl (default: the one beside --poses, if any): adds the accuracy of the accepted "
        "queries (status refined), the acceptance rate and the precision and recall of refined",
    )
    parser.add_argument("--thresholds", type=_threshold, nargs="+", help="metres,degrees pairs, e.g. 0.5,5 0.15,5")
    parser.add_argument("--json", type=Path, help="write all figures (and per-query errors) as JSON")


def report_results(
    initial: Sequence[SceneResult],
    refined: Sequence[SceneResult] | None,
    title: str,
    json_path: Path | None = None,
    accepted: tuple[SceneResult | None, dict] | None = None,
) -> None:
    """What ``gscpr eval`` prints (the table, a warning for images without a pose, and with ``accepted``, what
    :func:`acceptance_results` gives) and writes (``json_path``)."""
    print(format_table(initial, refined, title))
    if accepted is not None:
        print(format_acceptance(*accepted))
    missing = sum(r.n_missing for r in (refined or initial))
    if missing:
        print(f"warning: {missing} ground-truth image(s) had no pose and count as failures", file=sys.stderr)
    if json_path:
        payload = {
            "initial": [asdict(r) for r in initial],
            "initial_average": average_results(initial).summary(),
            "refined": [asdict(r) for r in refined] if refined else None,
            "refined_average": average_results(refined).summary() if refined else None,
        }
        if accepted is not None:
            payload["accepted"] = asdict(accepted[0]) if accepted[0] is not None else None
            payload["acceptance"] = accepted[1]
        write_json(json_path, payload)  # NaN / inf (no pose, no query) as null: standard JSON


def run(args: argparse.Namespace) -> int:
    try:
        if not args.poses or not args.gt:
            raise ValueError("give --poses FILE --gt SOURCE, or --dataset with --estimator")
        gt = load_ground_truth(args.gt)
        thresholds = args.thresholds or DEFAULT_THRESHOLDS
        scene = args.scene or Path(args.poses).stem
        poses = read_poses(args.poses)
        if args.coarse:
            initial = [evaluate_scene(read_poses(args.coarse), gt, scene, "", thresholds, args.scheme)]
            refined = [evaluate_scene(poses, gt, scene, "", thresholds, args.scheme)]
        else:
            initial, refined = [evaluate_scene(poses, gt, scene, "", thresholds, args.scheme)], None
        accepted = None
        records = args.records or Path(args.poses).with_name("results.jsonl")
        if args.records and not records.is_file():
            raise FileNotFoundError(f"{records}: no such records file")
        if records.is_file():
            from .records import poses_from_records, read_records

            recs = read_records(records)
            if args.records and not recs:
                raise ValueError(f"{records}: no gscpr refine record in it (results.jsonl: one JSON object a line "
                                 "with name, status, qvec and tvec)")  # fmt: skip
            for name in poses:
                rec = recs.get(name)
                if rec is not None and not (_vector(rec.get("qvec"), 4) and _vector(rec.get("tvec"), 3)):
                    raise ValueError(f"{records}: the record of {name} has no pose (qvec: 4 numbers, tvec: 3)")
                conf = None if rec is None else rec.get("confidence")
                if conf is not None and not (_vector([conf], 1) and 0 <= conf <= 1):
                    raise ValueError(f"{records}: the record of {name} has confidence {conf!r}; expected a number "
                                     "in [0, 1] or null")  # fmt: skip
                if (
                    rec is not None
                    and rec.get("solved_qvec") is not None
                    and not (_vector(rec["solved_qvec"], 4) and _vector(rec.get("solved_tvec"), 3))
                ):
                    raise ValueError(f"{records}: the record of {name} has a broken solved pose (solved_qvec, "
                                     "solved_tvec)")  # fmt: skip
            # The records hold the poses they were written with: those of another file (the coarse poses beside
            # a run's results.jsonl) have no status of theirs to report.
            theirs = poses_from_records(recs, poses)
            differ = sum(not np.allclose(theirs[n], poses[n], atol=1e-5) for n in theirs)
            if differ and args.records:
                raise ValueError(f"{records}: the poses of {differ} record(s) are not those of {args.poses}")
            if not differ:
                accepted = acceptance_results(recs, poses, gt, scene, thresholds, args.scheme)
        report_results(initial, refined, str(args.poses), args.json, accepted)
        if args.log:
            write_log(args.log, initial[0].scene, "", initial[0], refined[0] if refined else None)
    except (PoseFileError, UnknownNameError, FileNotFoundError, ValueError) as e:
        print(f"gscpr eval: error: {e}", file=sys.stderr)
        return 2
    return 0
