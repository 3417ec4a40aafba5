"""The benchmark itself: :func:`bench` (everything ``gscpr bench`` does), :func:`bench_scene` (a loaded model and
frames) and :func:`summarize` (one run's figures). See :mod:`gscpr.bench` for the protocols and outputs."""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..argtypes import check_device, default_device
from ..calibration import acceptance
from ..evaluate import within
from ..geometry import pose_errors
from ..outputs import output_folder, write_json, write_text
from ..records import solved_pose, stage_medians, status_counts
from .protocols import PROTOCOLS, perturb_frames
from .scene_scale import ABSOLUTE, FINE, SUCCESS, scene_distance
from .tables import format_tables
from .thumbnails import ThumbnailKeeper

__all__ = ["DEFAULT_TRAIN_STEPS", "BenchConfig", "bench", "bench_scene", "default_device", "summarize", "train_or_load"]

#: Training steps of ``OUT/model`` when no model is given.
DEFAULT_TRAIN_STEPS = 30_000


@dataclass
class BenchConfig:
    """Everything a bench run depends on (recorded in ``bench.json``)."""

    protocols: tuple[str, ...] = tuple(PROTOCOLS)
    matchers: tuple[str, ...] = ("xfeat", "lightglue")
    solvers: tuple[str, ...] = ("paper", "poselib")
    # None: the recipe's value (bench.json records the value used). Perturbations of tens of degrees need a second
    # or third render (--iterations 3; the stopping rule ends converged queries early).
    iterations: int | None = None
    ransac_px: float | None = None
    recipe: str = "gscpr"  # the refinement preset (gscpr.recipes) that the solvers, threshold and iterations change
    seed: int = 0
    max_queries: int | None = None
    thumbnails_failed: int = 6
    thumbnails_ok: int = 3

    def __post_init__(self) -> None:
        from ..solvers import canonical_solver_name

        # Each run once, in the order given: a name given twice (or a solver under two of its names) is one run.
        self.protocols, self.matchers = tuple(dict.fromkeys(self.protocols)), tuple(dict.fromkeys(self.matchers))
        solvers: dict[str, str] = {}
        for name in self.solvers:
            solvers.setdefault(canonical_solver_name(name), name)  # ValueError naming the solvers if unknown
        self.solvers = tuple(solvers.values())


def bench(
    data: str | Path,
    out: str | Path,
    model: str | Path | None = None,
    *,
    cfg: BenchConfig | None = None,
    train_steps: int = DEFAULT_TRAIN_STEPS,
    scene: str | None = None,
    device: str | None = None,
    load_matcher: Callable | None = None,
    progress: bool = True,
) -> dict:
    """Everything ``gscpr bench`` does: benchmark refinement on the test views of the dataset folder ``data``.

    Detects the format (:func:`gscpr.data.detect_format`), loads the test split, loads the scene model ``model``
    (PLY or model folder) or, without one, trains ``out/model`` for ``train_steps`` steps (reused when it is
    there), runs every protocol x matcher x solver of ``cfg`` (:func:`bench_scene`, on the format's background,
    resuming complete runs), and writes ``out/bench.json`` and ``out/bench.md``. ``scene`` names the results
    (default: the data folder's name); ``device`` defaults to CUDA where available. Returns ``bench.json``'s
    content, with ``"model"`` the model's path. Raises :class:`~gscpr.data.DatasetError`,
    :class:`~gscpr.match.MatchError`, ``ValueError`` (no test view with a pose, a failed training, a model that
    renders nothing) or ``OSError``.
    """
    from ..data import detect_format, format_traits, load_dataset
    from ..splat.model import load_scene_model, scene_background

    data, out, device = Path(data), Path(out), check_device(device or default_device())
    with output_folder(out, unit="runs", count=lambda: len(list(out.glob("runs/*/*/refined_poses.txt")))):
        fmt = detect_format(data, "test")
        frames = load_dataset(data, "test", fmt)
        if model is not None:
            scene_model, model_path = load_scene_model(model, device), model
        else:
            scene_model, model_path = train_or_load(data, out, train_steps, device)
        # The model's background where its files say (cfg_args), else the format's: what its views are composited on.
        background = scene_background(scene_model, model_path) or format_traits(fmt).background
        result = bench_scene(scene_model, frames, fmt, out, cfg, scene or data.name, device, background, load_matcher,
                             progress)  # fmt: skip
        result["model"] = str(model_path)
        write_json(out / "bench.json", result)
        return result


def bench_scene(
    model,
    frames: list,
    fmt: str,
    out: str | Path,
    cfg: BenchConfig | None = None,
    scene: str | None = None,
    device: str = "cpu",
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
    load_matcher: Callable | None = None,
    progress: bool = True,
) -> dict:
    """Run every protocol x matcher x solver of ``cfg`` on ``frames`` (:class:`~gscpr.data.Frame` test views;
    those without a ground-truth pose are left out) with the loaded scene model ``model`` rendered on
    ``background``; ``fmt`` (the dataset format) decides how the scene's scale is measured. Writes ``out/bench.json``
    after each run and ``out/bench.md`` at the end, and returns ``bench.json``'s content. Runs already complete in
    ``out`` are reused (resume). Raises ``ValueError`` when no frame has a pose."""
    from ..match import load_matcher as default_loader
    from ..pipeline import refine_queries
    from ..poses import write_poses
    from ..queries import Query
    from ..recipes import get_recipe
    from ..records import poses_from_records

    cfg = cfg or BenchConfig()
    recipe = get_recipe(cfg.recipe)
    cfg = replace(cfg, iterations=recipe.iterations if cfg.iterations is None else cfg.iterations,
                  ransac_px=recipe.ransac_px if cfg.ransac_px is None else cfg.ransac_px)  # fmt: skip
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = [f for f in frames if f.pose is not None][: cfg.max_queries]
    if not frames:
        raise ValueError("no test views with ground-truth poses to benchmark")
    gt = np.stack([f.pose for f in frames])
    names = [f.name for f in frames]
    distance = scene_distance(fmt, gt, model, [f.camera.without_distortion() for f in frames], background)
    load_matcher = load_matcher or default_loader
    result = {
        "benchmark": "accuracy",
        "scene": scene or out.name,
        "format": fmt,
        "device": torch.cuda.get_device_name() if str(device).startswith("cuda") else "cpu",
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "model_size": len(model),
        "queries": len(frames),
        "resolution": f"{frames[0].camera.width}x{frames[0].camera.height}",
        "scene_distance": distance,
        "config": asdict(cfg),
        "protocols": {p: asdict(PROTOCOLS[p]) for p in cfg.protocols},
        "runs": [],
    }
    matchers = {}
    for pname in cfg.protocols:
        protocol = PROTOCOLS[pname]
        coarse, noise = perturb_frames(protocol, gt, names, distance, seed=cfg.seed + protocol.seed)
        queries = [Query(f.name, f.image_path, f.camera, c, f.pose) for f, c in zip(frames, coarse, strict=True)]
        before = np.stack(pose_errors(coarse, gt), axis=1)
        for mname in cfg.matchers:
            if mname not in matchers:
                matchers[mname] = load_matcher(mname, device)
            for solver in cfg.solvers:
                run_dir = out / "runs" / pname / f"{mname}_{solver}"
                run_dir.mkdir(parents=True, exist_ok=True)
                write_poses(run_dir / "coarse_poses.txt", dict(zip(names, coarse, strict=True)))
                rcfg = get_recipe(cfg.recipe, solver=solver, ransac_px=cfg.ransac_px, iterations=cfg.iterations,
                                  background=background, seed=cfg.seed)  # fmt: skip
                keeper = ThumbnailKeeper(run_dir / "thumbs", model, rcfg, distance, cfg.thumbnails_failed,
                                         cfg.thumbnails_ok)  # fmt: skip
                if progress:
                    print(f"{pname} / {mname} / {solver}", file=sys.stderr)
                t0 = time.perf_counter()
                records = refine_queries(model, queries, matchers[mname], rcfg, run_dir, progress=progress,
                                         on_result=keeper)  # fmt: skip
                seconds = time.perf_counter() - t0
                refined = poses_from_records(records, names)
                write_poses(run_dir / "refined_poses.txt", refined)
                after = np.stack(pose_errors(np.stack([refined[n] for n in names]), gt), axis=1)
                recs = [records[n] for n in names]
                solved = solved_errors(recs, gt)
                run = {"protocol": pname, "matcher": mname, "solver": solver, "dir": str(run_dir.relative_to(out)),
                       "seconds": seconds, **summarize(before, after, distance, recs, solved),
                       "per_query": [{"name": n, "status": r["status"], "before": b.tolist(), "after": a.tolist(),
                                      "solved": sv.tolist() if np.all(np.isfinite(sv)) else None,
                                      "confidence": r.get("confidence"), "verify": r.get("verify"),
                                      "inliers": r["num_inliers"],
                                      "message": r.get("message", ""), "noise": z}
                                     for n, r, b, a, sv, z in zip(names, recs, before, after, solved, noise,
                                                                  strict=True)],
                       }  # fmt: skip
                result["runs"].append(run)
                write_json(out / "bench.json", result)
    write_text(out / "bench.md", format_tables(result))
    return result


def solved_errors(records: list[dict], gt: np.ndarray) -> np.ndarray:
    """``[N, 2]`` rotation (degrees) and translation errors of each record's solved pose
    (:func:`~gscpr.records.solved_pose`) against ``gt [N, 4, 4]``; NaN rows where no pose was solved."""
    out = np.full((len(records), 2), np.nan)
    for i, (r, g) in enumerate(zip(records, gt, strict=True)):
        if (pose := solved_pose(r)) is not None:
            out[i] = pose_errors(pose, g)
    return out


def summarize(
    before: np.ndarray, after: np.ndarray, distance: float, records: list[dict], solved: np.ndarray | None = None
) -> dict:
    """Success rates, errors, failures by cause and median stage times of one run (errors ``[N, 2]``), and what
    its ``refined`` status and confidences are worth (:func:`gscpr.calibration.acceptance` under the success
    criterion). ``solved`` holds the errors ``[N, 2]`` of the solved poses (:func:`solved_errors`, NaN rows where
    none); by default the final pose's where it is the solver's (``refined``, or ``unverified`` with the refined
    pose kept), unknown elsewhere. ``after_accepted`` holds the rates over the accepted (``refined``) queries
    alone (its ``success`` is the precision), None when there are none."""

    def success(e: np.ndarray) -> np.ndarray:
        return within(e[:, 0], e[:, 1], SUCCESS[0], SUCCESS[1] * distance)

    def rates(e: np.ndarray) -> dict:
        rot, trans = e[:, 0], e[:, 1]
        return {
            "success": float(np.mean(success(e))),
            "success_fine": float(np.mean(within(rot, trans, FINE[0], FINE[1] * distance))),
            "success_abs": float(np.mean(within(rot, trans, *ABSOLUTE))),
            "median_rot_deg": float(np.median(rot)),
            "median_trans": float(np.median(trans)),
            "mean_rot_deg": float(np.mean(rot)),
            "mean_trans": float(np.mean(trans)),
        }

    ms = {k: 1000 * v for k, v in stage_medians(records).items()}
    total = ms.pop("total", float("nan"))
    iterations = float(np.mean([r["iterations"] for r in records])) if records else 0.0
    # Refined, but a later pass at the refined pose found no pose: a hint of a wrong refinement.
    unconfirmed = sum(r["status"] == "refined" and r.get("confirmed") is False for r in records)
    statuses = [r["status"] for r in records]
    if solved is None:
        own = [s == "refined" or (s == "unverified" and r.get("solved_qvec") is None)
               for s, r in zip(statuses, records, strict=True)]  # fmt: skip
        solved = np.where(np.array(own, dtype=bool).reshape(-1, 1), after, np.nan)
    ok_solved = [bool(s) if np.all(np.isfinite(e)) else None for s, e in zip(success(solved), solved, strict=True)]
    trust = acceptance(statuses, success(after), ok_solved, [r.get("confidence") for r in records])
    accepted = np.array([s == "refined" for s in statuses], dtype=bool)
    return {"queries": len(records), "before": rates(before), "after": rates(after),
            "after_accepted": rates(after[accepted]) if accepted.any() else None, **trust,
            "statuses": status_counts(records), "unconfirmed": unconfirmed, "ms": ms, "ms_total": total,
            "iterations_mean": iterations}  # fmt: skip


def train_or_load(data: Path, out: Path, steps: int, device: str) -> tuple[object, Path]:
    """``OUT/model/point_cloud/iteration_<steps>``, trained there first with :func:`gscpr.training.train` (3DGS,
    the train split, SfM points where the dataset has them, seed 0; an interrupted training resumes) when
    missing. Raises what training raises (``DatasetError``, ``ValueError``)."""
    from ..splat.model import load_scene_model
    from ..training import train

    model_dir = out / "model"
    ply = model_dir / "point_cloud" / f"iteration_{steps}" / "point_cloud.ply"
    if not ply.is_file():
        ply = train(data, model_dir, iterations=steps, resume=True, device=device, eval_steps=(steps,),
                    save_steps=()).ply  # fmt: skip
    return load_scene_model(ply, device), ply
