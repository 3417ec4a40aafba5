"""Fit the confidence of verified poses (``gscpr.refine.verify``) on data, and check its calibration on held-out
scenes.

    python benchmarks/fit_confidence.py collect --out confidence_data.jsonl           # refine, record features
    python benchmarks/fit_confidence.py fit confidence_data.jsonl --write src/gscpr/refine/confidence.json
    python benchmarks/fit_confidence.py check confidence_data.jsonl                  # the packaged model on it
    # the packaged model: fit ... benchmarks/results/confidence_data_h200_2026-11-29.jsonl.gz

``collect`` refines the queries of several *cases* under the perturbation protocols of ``gscpr bench``, with
verification on but deciding nothing (an uninformative model, ``min_confidence=0``, ``keep_unverified``), and
writes one JSON line per query whose solver found a pose: its case, base scene, protocol, solver, the
verification features and whether that pose is within the success threshold (< 5 deg and < 5 % of the scene
distance D, ``gscpr bench``'s). Cases (``--cases``; each runs where its data is):

==================  ============================================================================================
``room``            the generated textured room (``gscpr.synthetic``), queries rendered at random poses inside
``room-mirrored``   the room's queries against the room mirrored in x: a scene that looks alike, the wrong one
``room-focal``      the room's queries with their focal length given 20 % too long (wrong intrinsics)
``room-repeated``   the room with the texture of its walls along x repeating every metre (``textured_room(period=1)``),
                    queries facing those walls, each coarse pose also moved 0.2-1 period along x: the solver lands
                    on the right pose or one period off, with as many inliers either way (a repeated texture)
``mic``             the embedded mic model against the real test images of ``../shared/data/nerf_synthetic/mic``
``mic-focal``       the same with the focal length 20 % too long
``mic-missing``     the mic model with every Gaussian at x > 0 removed (a model with missing parts)
``mic-wrong-scene`` mic's queries against the room model
``<name>=<folder>`` any dataset folder (``gscpr bench``'s formats): its test views against a 3DGS model trained
                    on its train split (``--train-steps``, kept under ``--work``; on the GPU machine lego, fox
                    and fern of ``../shared``, carried by ``prepare_gpu_data.py``)
``<name>-focal``    the same scene with the focal length 20 % too long (``fox-focal=<folder>``)
==================  ============================================================================================

``fit`` fits a logistic regression (scikit-learn, standardised features, L2) per variant
(``gscpr.refine.verify.VARIANTS``: ``render``, every feature; ``no_render``, the solver's numbers only; the same
two for the relative step, on its rows) on every case but the wrong-intrinsics ones (``*-focal``: a pose solved
with a focal length 20 % off explains the image almost as well as the right one with the right focal length, so
a pose check can hardly tell, and fitting on them teaches the model to doubt right poses). It reports the expected
calibration error (10 bins) on each base scene held out (fit on the others; over the scene's ordinary queries and
over all its cases) and on the whole data, and chooses the acceptance threshold as the highest at which the right
poses it rejects are at most ``--max-drop`` of the ordinary queries (each scene's own case, as in the accuracy
suite: 1 point of success rate; the hard cases are there to be rejected), but not below ``--min-threshold`` (0.5:
a pose the model finds more likely wrong than right is never reported as refined). It reports the wrong poses
still accepted (by case) and the share of wrong-intrinsics poses rejected, writes the model with what it was fit
on, and prints JSON and a table. Wrong intrinsics are left to the run-level check (``gscpr.refine.intrinsics``).
Rows collected before a feature was recorded (``ncc_spread``: before 2026-11-30's second data) are left out of the
variants that read it; a variant with no rows keeps the model it had in ``--write``'s file.

``collect --relative`` refines with the relative variant (GS-CPR_rel, ``RefineConfig.relative``) instead; its
rows say ``"relative": true``. ``check`` scores collected rows with the packaged model (each row with the variant
it was collected with) and prints, per case, the wrong poses accepted, the right ones rejected and the ECE: the
calibration on data the model was not fit on (another day's, the relative variant's).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import sys
import tempfile
import zlib
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from gscpr.bench import PROTOCOLS, perturb_frames
from gscpr.calibration import expected_calibration_error as ece
from gscpr.camera import Camera
from gscpr.geometry import camera_center, pose_errors
from gscpr.refine import RefineConfig, Refiner
from gscpr.refine.verify import VARIANTS, ConfidenceModel, clip_features, load_confidence_model, variant_for
from gscpr.synthetic import mirrored_x, pose_inside, textured_room

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SUCCESS = (5.0, 0.05)  # gscpr bench's: degrees, share of the scene distance


def room_case(n: int, seed: int, size=(320, 240)):
    """The room model, ``n`` query images rendered inside it, their camera and poses, and the scene distance."""
    from gscpr.bench import scene_distance
    from gscpr.splat import render

    model = textured_room(n_side=60, seed=seed)
    cam = Camera.centered(*size, 0.8 * size[0])
    rng = np.random.default_rng(seed)
    gts = np.stack([pose_inside(rng) for _ in range(n)])
    with torch.inference_mode():
        images = [render(model, cam, p).rgb[0].cpu().numpy() for p in gts]
    distance = scene_distance("colmap", gts, model, [cam] * n)
    return model, images, [cam] * n, gts, distance


REPEAT_PERIOD = 1.0  # room-repeated's period along x, a third of the room's scene distance


def facing_wall_along_x(rng: np.random.Generator) -> np.ndarray:
    """A random w2c pose inside the room, 2.5-3 units from one of the four walls along x and facing it (within
    10 deg), its image's x axis along the world's x."""
    from gscpr.geometry import make_pose, perturb_pose

    axis, sign = int(rng.integers(1, 3)), float(rng.choice([-1.0, 1.0]))
    forward, right = np.zeros(3), np.array([1.0, 0.0, 0.0])
    forward[axis] = sign
    R = np.stack([right, np.cross(forward, right), forward])  # rows: the camera's x, y, z in the world
    centre = np.array([rng.uniform(-1.0, 1.0), 0.0, 0.0])
    centre[axis] = -sign * rng.uniform(0.5, 1.0)
    centre[3 - axis] = rng.uniform(-0.5, 0.5)
    return perturb_pose(make_pose(R, -R @ centre), rng.uniform(0.0, 10.0), 0.0, frame="camera", rng=rng)


def repeated_room_case(n: int, seed: int, size=(320, 240)):
    """:func:`room_case` for the room whose walls along x repeat every :data:`REPEAT_PERIOD`, queries facing them."""
    from gscpr.bench import scene_distance
    from gscpr.splat import render

    model = textured_room(n_side=60, seed=seed, period=REPEAT_PERIOD)
    cam = Camera.centered(*size, 0.8 * size[0])
    rng = np.random.default_rng(seed + 1)
    gts = np.stack([facing_wall_along_x(rng) for _ in range(n)])
    with torch.inference_mode():
        images = [render(model, cam, p).rgb[0].cpu().numpy() for p in gts]
    return model, images, [cam] * n, gts, scene_distance("colmap", gts, model, [cam] * n)


def shifted_along_x(coarse: np.ndarray, seed: int) -> np.ndarray:
    """Coarse w2c poses ``[N, 4, 4]`` each moved a further 0.2-1 :data:`REPEAT_PERIOD` along x, either way."""
    from gscpr.geometry import perturb_pose

    rng = np.random.default_rng(seed)
    shift = rng.uniform(0.2, 1.0, len(coarse)) * rng.choice([-1.0, 1.0], len(coarse)) * REPEAT_PERIOD
    return perturb_pose(coarse, 0.0, shift, frame="world", trans_axis=np.array([1.0, 0.0, 0.0]))


def mic_case(n: int, root: Path = SHARED / "nerf_synthetic" / "mic"):
    """The embedded mic model, the real mic test views of ``root`` (RGBA composited on white) and the scene
    distance; ``None`` where ``root`` has no test split."""
    from gscpr.data import load_blender
    from gscpr.data.images import load_rgb
    from gscpr.demo import demo_scene_dir
    from gscpr.splat import load_ply

    if not (root / "transforms_test.json").is_file():
        return None
    model = load_ply(demo_scene_dir() / "mic.ply")
    frames = load_blender(root, "test")[:n]
    images = [load_rgb(f.image_path, (1.0, 1.0, 1.0)) for f in frames]
    gts = np.stack([f.pose for f in frames])
    return model, images, [f.camera for f in frames], gts, float(np.median(np.linalg.norm(camera_center(gts), axis=1)))


def longer_focal(cams: list[Camera], factor: float = 1.2) -> list[Camera]:
    from dataclasses import replace

    return [replace(c, fx=c.fx * factor, fy=c.fy * factor) for c in cams]


def dataset_case(folder: Path, n: int, work: Path, steps: int, device: str):
    """A dataset's first ``n`` test views (every other one when there are more) against a model trained on its
    train split (:func:`gscpr.bench.run.train_or_load`), its background and scene distance."""
    from gscpr.bench import scene_distance
    from gscpr.bench.run import train_or_load
    from gscpr.data import detect_format, format_traits, load_dataset, load_rgb

    fmt = detect_format(folder, "test")
    frames = [f for f in load_dataset(folder, "test", fmt) if f.pose is not None]
    frames = frames[:: max(1, len(frames) // n)][:n]
    model, _ = train_or_load(folder, work, steps, device)
    background = format_traits(fmt).background
    images = [load_rgb(f.image_path, background) for f in frames]
    gts = np.stack([f.pose for f in frames])
    cams = [f.camera for f in frames]
    return model, images, cams, gts, scene_distance(fmt, gts, model, [c.without_distortion() for c in cams],
                                                    background), background  # fmt: skip


def cases(
    names: list[str],
    n: int,
    seed: int,
    work: Path | None = None,
    steps: int = 7000,
    device: str = "cpu",
    mic_root: Path = SHARED / "nerf_synthetic" / "mic",
):
    """Yield ``(case, base scene, model, images, cameras, gts, distance, background)``."""
    need_room = any(c in ("room", "room-mirrored", "room-focal", "mic-wrong-scene") for c in names)
    room = room_case(n, seed) if need_room else None
    mic = mic_case(n, mic_root) if any(c.startswith("mic") for c in names) else None
    white = (1.0, 1.0, 1.0)
    trained: dict[Path, tuple] = {}
    for c in names:
        if "=" in c:  # a dataset folder, trained here
            c, folder = c.split("=", 1)
            base = c.removesuffix("-focal")
            folder = Path(folder)
            if folder.resolve() not in trained:
                trained[folder.resolve()] = dataset_case(folder, n, (work or Path("confidence_work")) / base, steps,
                                                         device)  # fmt: skip
            model, images, cams, gts, d, background = trained[folder.resolve()]
            if c.endswith("-focal"):
                cams = longer_focal(cams)
            yield c, base, model, images, cams, gts, d, background
        elif c == "room-repeated":
            yield (c, "room", *repeated_room_case(n, seed), (0.0, 0.0, 0.0))
        elif c.startswith("room"):
            model, images, cams, gts, d = room
            if c == "room-mirrored":
                model = mirrored_x(model)
            if c == "room-focal":
                cams = longer_focal(cams)
            yield c, "room", model, images, cams, gts, d, (0.0, 0.0, 0.0)
        elif mic is None:
            print(f"{c}: skipped ({mic_root} has no test split)", file=sys.stderr)
        else:
            model, images, cams, gts, d = mic
            if c == "mic-focal":
                cams = longer_focal(cams)
            if c == "mic-missing":
                model = model.subset(model.means[:, 0] <= 0)
            if c == "mic-wrong-scene":
                model = room[0]
            yield c, "mic", model, images, cams, gts, d, white


def collect(args: argparse.Namespace) -> None:
    from gscpr.match import load_matcher

    torch.manual_seed(args.seed)
    matcher = load_matcher(args.matcher, args.device)
    out = open(args.out, "w", encoding="utf-8")  # noqa: SIM115  (written line by line, flushed)
    with tempfile.TemporaryDirectory() as tmp:
        prior = Path(tmp) / "uninformative.json"
        prior.write_text(json.dumps({"variants": {v: ConfidenceModel.uninformative(f).to_json()
                                                  for v, f in VARIANTS.items()}}))  # fmt: skip
        todo = cases(args.cases, args.views, args.seed, args.work, args.train_steps, args.device, args.mic)
        for case, base, model, images, cams, gts, distance, background in todo:
            model = model.to(args.device)
            names = [f"{case}_{i}" for i in range(len(images))]
            for pname, draw in ((p, k) for p in args.protocols for k in range(args.draws)):
                coarse, _ = perturb_frames(PROTOCOLS[pname], gts, names, distance, seed=args.seed + 1000 * draw)
                if case == "room-repeated":
                    coarse = shifted_along_x(coarse, args.seed + 1000 * draw)
                for solver in args.solvers[:1] if args.relative else args.solvers:  # relative: its own solver
                    cfg = RefineConfig(solver=solver, background=background, render_scale=args.render_scale,
                                       iterations=1, min_confidence=0.0, keep_unverified=True,
                                       confidence_model=str(prior), seed=args.seed,
                                       relative=args.relative)  # fmt: skip
                    refiner = Refiner(model, matcher, cfg)
                    kept = 0
                    for name, img, cam, c, gt in zip(names, images, cams, coarse, gts, strict=True):
                        r = refiner.refine(img, cam, c)
                        if r.verify is None:  # no pose solved: nothing to verify
                            continue
                        rot, trans = pose_errors(r.pose, gt)
                        rot0, trans0 = pose_errors(c, gt)
                        ok = bool(rot < SUCCESS[0] and trans < SUCCESS[1] * distance)
                        rec = {"case": case, "scene": base, "protocol": pname, "draw": draw,
                               "solver": cfg.relative_solver if args.relative else solver, "relative": args.relative,
                               "name": name,
                               "ok": ok, "rot_deg": float(rot), "trans_rel": float(trans / distance),
                               "coarse_ok": bool(rot0 < SUCCESS[0] and trans0 < SUCCESS[1] * distance),
                               "verify_ms": 1000 * r.timings.get("verify", 0.0),
                               "total_ms": 1000 * sum(r.timings.values()), **r.verify}  # fmt: skip
                        out.write(json.dumps(rec) + "\n")
                        out.flush()
                        kept += 1
                    print(f"{case} / {pname} #{draw} / {solver}: {kept} poses solved of {len(names)}", file=sys.stderr)
    out.close()


def fit_variant(X: np.ndarray, y: np.ndarray, features: tuple[str, ...], fit: dict) -> ConfidenceModel:
    from sklearn.linear_model import LogisticRegression

    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    lr = LogisticRegression(C=1.0, max_iter=1000).fit((X - mean) / scale, y)
    return ConfidenceModel(features, tuple(mean.tolist()), tuple(scale.tolist()), tuple(lr.coef_[0].tolist()),
                           float(lr.intercept_[0]), fit)  # fmt: skip


def threshold_for(p: np.ndarray, y: np.ndarray, max_drop: float) -> float:
    """The highest threshold (0.01 steps) at which the right poses rejected are at most ``max_drop`` of all."""
    best = 0.0
    for t in np.round(np.arange(0.01, 1.0, 0.01), 2):
        if np.mean((p < t) & y) <= max_drop:
            best = float(t)
    return best


ROW_KEYS = ("case", "scene", "ok")  # what every row of collect has, beside its features


def _fail(message: str) -> NoReturn:
    print(f"fit_confidence.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def _rows(paths: list[Path]) -> list[dict]:
    """Every row of ``paths`` (collect's JSON lines, gzipped or not); a file that cannot be read, a line that is not
    a JSON object with :data:`ROW_KEYS` or no row at all: one error line naming the file (and line), exit 2."""
    rows = []
    for path in paths:
        try:
            lines = _lines(path)
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:  # BadGzipFile is an OSError
            _fail(f"{path}: cannot be read ({type(e).__name__}: {e})")
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                _fail(f"{path}:{i}: not a JSON line ({e})")
            if not isinstance(row, dict) or any(k not in row for k in ROW_KEYS):
                _fail(f"{path}:{i}: not a row of fit_confidence.py collect (a JSON object with {', '.join(ROW_KEYS)})")
            rows.append(row)
    if not rows:
        _fail(f"{', '.join(map(str, paths))}: no records")
    return rows


def _features(row: dict) -> dict:
    """The row's features, clipped; a missing value recorded as ``None`` is 0 (the refiner's convention)."""
    return clip_features({k: 0.0 if v is None else v for k, v in row.items()})


def _fit_one(
    rows: list[dict], feats: tuple[str, ...], max_drop: float, min_threshold: float
) -> tuple[ConfidenceModel, dict]:
    """One variant's model on its rows: held-out ECE per base scene, the full fit, its threshold and outcomes."""
    y = np.array([r["ok"] for r in rows])
    focal = np.array([r["case"].endswith("-focal") for r in rows])
    scenes = sorted({r["scene"] for r in rows})
    X = np.array([[r[f] for f in feats] for r in rows], dtype=np.float64)
    ordinary = np.array([r["case"] == r["scene"] for r in rows])  # each scene's own queries, no hard case
    held = {}
    for s in scenes if len(scenes) > 1 else ():
        test = np.array([r["scene"] == s for r in rows])
        train = ~test & ~focal
        if len(set(y[train])) < 2 or not (test & ~focal).any():
            continue
        m = fit_variant(X[train], y[train], feats, {})
        p = np.array([m.predict(dict(zip(feats, x, strict=True))) for x in X])
        t, o = test & ~focal, test & ordinary
        held[s] = {"queries": int(t.sum()), "wrong": int((t & ~y).sum()), "ece": round(ece(p[t], y[t]), 4),
                   "ordinary": int(o.sum()),
                   "ece_ordinary": round(ece(p[o], y[o]), 4) if o.any() else None}  # fmt: skip
    m = fit_variant(X[~focal], y[~focal], feats, {})
    p = np.array([m.predict(dict(zip(feats, x, strict=True))) for x in X])
    # The success-rate budget is spent on ordinary queries (as in the accuracy suite), not on the hard cases,
    # which are there to be rejected.
    budget = ordinary if ordinary.any() else ~focal
    # ... and never below min_threshold: a pose more likely wrong than right is not reported as refined.
    t = max(threshold_for(p[budget], y[budget], max_drop), min_threshold)
    acc, d = p >= t, ~focal
    info = {"threshold": t, "ece_fit": round(ece(p[d], y[d]), 4), "held_out": held,
            "accepted": int((acc & d).sum()), "accepted_wrong": int((acc & d & ~y).sum()),
            "wrong": int((d & ~y).sum()), "right_rejected": int((~acc & d & y).sum()),
            "success_drop": round(float(np.mean((~acc & y)[d])), 4),
            "success_drop_ordinary": round(float(np.mean((~acc & y)[ordinary])), 4) if ordinary.any() else None,
            "precision": round(float(y[acc & d].mean()), 4) if (acc & d).any() else None,
            "recall": round(float(acc[d & y].mean()), 4) if (d & y).any() else None,
            "focal_rejected": round(float(np.mean(~acc[focal])), 4) if focal.any() else None,
            "queries": len(rows), "scenes": scenes, "cases": sorted({r["case"] for r in rows})}  # fmt: skip
    wrong_cases: dict[str, int] = {}
    for r, a in zip(rows, acc & d & ~y, strict=True):
        if a:
            wrong_cases[r["case"]] = wrong_cases.get(r["case"], 0) + 1
    info["accepted_wrong_by_case"] = wrong_cases
    return m, info


def fit(args: argparse.Namespace) -> dict:
    rows = _rows(args.data)
    unknown = sorted(set(args.leave_out) - {r["case"] for r in rows})
    if unknown:  # a misspelt case would silently be fit on
        _fail(f"--leave-out {' '.join(unknown)}: no such case in {', '.join(map(str, args.data))}")
    rows = [_features(r) for r in rows if r["case"] not in args.leave_out]
    summary = {"date": datetime.date.today().isoformat(), "data": [str(d) for d in args.data], "queries": len(rows),
               "right": int(sum(r["ok"] for r in rows)), "left_out": args.leave_out, "variants": {}}  # fmt: skip
    models = {}
    kept = _kept(args.write) if args.write and args.write.exists() else {}
    for variant, feats in VARIANTS.items():
        relative = variant.startswith("relative")
        mine = [r for r in rows if bool(r.get("relative")) == relative and all(f in r for f in feats)]
        if len({r["ok"] for r in mine}) < 2:
            was = (f"{args.write} keeps the one it has" if variant in kept
                   else f"none in {args.write}" if args.write else "none written")  # fmt: skip
            print(f"{variant}: no rows with both outcomes to fit on ({was})", file=sys.stderr)
            continue
        m, info = _fit_one(mine, feats, args.max_drop, args.min_threshold)
        models[variant] = ConfidenceModel(m.features, m.mean, m.scale, m.coef, m.intercept,
                                          {**info, "date": summary["date"],
                                           "source": "benchmarks/fit_confidence.py"})  # fmt: skip
        summary["variants"][variant] = {**info, "coef": dict(zip(feats, np.round(m.coef, 3).tolist(), strict=True))}
    print(json.dumps(summary, indent=1))
    print(
        "\n| variant | queries | threshold | accepted | accepted wrong / wrong | right rejected (success drop) | "
        "precision | recall | wrong-intrinsics rejected | ECE (fit) | ECE held out: ordinary / all (queries) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for v, s in summary["variants"].items():
        held = ", ".join(f"{k} {h['ece_ordinary']} / {h['ece']} ({h['ordinary']} / {h['queries']}, {h['wrong']} wrong)"
                         for k, h in s["held_out"].items())  # fmt: skip
        print(
            f"| {v} | {s['queries']} | {s['threshold']} | {s['accepted']} | {s['accepted_wrong']} / {s['wrong']} | "
            f"{s['right_rejected']} ({100 * s['success_drop']:.1f} pt) | {s['precision']} | {s['recall']} | "
            f"{s['focal_rejected']} | {s['ece_fit']} | {held or '-'} |"
        )
    if not models:
        _fail(f"{', '.join(map(str, args.data))}: no variant has rows with both outcomes to fit on; nothing written")
    if args.write:
        out = {**kept, **{v: m.to_json() for v, m in models.items()}}
        args.write.write_text(json.dumps({"variants": out}, indent=1) + "\n")
    return summary


def _kept(path: Path) -> dict:
    """The models by variant of the confidence.json ``path`` that ``fit --write`` adds to (read before fitting: a
    file it cannot add to is said before any work)."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))["variants"]
        if not isinstance(kept, dict):
            raise TypeError("'variants' is not an object")
        return kept
    except (OSError, ValueError, KeyError, TypeError) as e:
        _fail(f"{path}: not a confidence.json to write into ({type(e).__name__}: {e})")


def check(args: argparse.Namespace) -> dict:
    """The packaged model on collected rows, each with the variant it was collected with: per case, the queries,
    the wrong ones, those accepted at the model's threshold, the right ones rejected and the ECE."""
    models = {v: load_confidence_model(v) for v in VARIANTS}
    by_case: dict[str, list] = {}
    skipped = 0
    for r in map(_features, _rows(args.data)):
        m = models[variant_for(bool(r.get("relative")), r.get("variant", "render") in ("render", "relative"))]
        if not all(f in r for f in m.features):  # collected before a feature was recorded
            skipped += 1
            continue
        by_case.setdefault(r["case"], []).append((m.predict({f: r[f] for f in m.features}), r["ok"],
                                                  float(m.fit["threshold"])))  # fmt: skip
    if skipped:
        print(f"{skipped} rows left out: collected before a feature the model reads was recorded", file=sys.stderr)
    if not by_case:
        _fail(f"{', '.join(map(str, args.data))}: no row has every feature its model reads")
    out = {}
    print("| case | queries | wrong | wrong accepted | right rejected | ECE |\n|---|---|---|---|---|---|")
    for case, scored in list(by_case.items()) + [("all", [x for v in by_case.values() for x in v])]:
        p, y, t = (np.array(a) for a in zip(*scored, strict=True))
        out[case] = {"queries": len(y), "wrong": int((~y).sum()), "wrong_accepted": int(((p >= t) & ~y).sum()),
                     "right_rejected": int(((p < t) & y).sum()), "ece": round(ece(p, y), 4)}  # fmt: skip
        o = out[case]
        print(
            f"| {case} | {o['queries']} | {o['wrong']} | {o['wrong_accepted']} | {o['right_rejected']} | {o['ece']} |"
        )
    return out


def _lines(path: Path) -> list[str]:
    return (gzip.open(path, "rt") if path.suffix == ".gz" else path.open()).read().splitlines()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="refine the cases' queries and record the verification features")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--cases", nargs="+", default=["room", "room-mirrored", "room-focal", "mic", "mic-focal",
                                                  "mic-missing", "mic-wrong-scene"])  # fmt: skip
    c.add_argument("--protocols", nargs="+", default=["coarse-dfnet", "icomma-small", "gsfeatloc"])
    c.add_argument("--solvers", nargs="+", default=["poselib"])
    c.add_argument("--matcher", default="xfeat")
    c.add_argument("--views", type=int, default=16, help="query views per case")
    c.add_argument("--draws", type=int, default=1, help="perturbations drawn per view and protocol")
    c.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--mic", type=Path, default=SHARED / "nerf_synthetic" / "mic", help="mic's data folder")
    c.add_argument("--render-scale", type=float, default=1.0, help="render and match at this share of the query size")
    c.add_argument("--work", type=Path, default=Path("confidence_work"), help="trained models of dataset cases")
    c.add_argument("--train-steps", type=int, default=7000, help="3DGS training steps of dataset cases")
    c.add_argument("--relative", action="store_true", help="the relative variant (GS-CPR_rel; --solvers ignored)")
    k = sub.add_parser("check", help="the packaged model's calibration on collected features (e.g. other data)")
    k.add_argument("data", type=Path, nargs="+", help="collect's JSON lines")
    f = sub.add_parser("fit", help="fit the confidence model on collected features")
    f.add_argument("data", type=Path, nargs="+", help="collect's JSON lines (several files are pooled)")
    f.add_argument(
        "--max-drop",
        type=float,
        default=0.01,
        help="largest share of queries whose right pose is rejected (the success rate's drop)",
    )
    f.add_argument(
        "--min-threshold",
        type=float,
        default=0.5,
        help="the lowest acceptance threshold (0.5: a pose more likely wrong than right is never refined)",
    )
    f.add_argument(
        "--leave-out",
        nargs="+",
        default=[],
        metavar="CASE",
        help="cases not to fit on (e.g. rows collected before a fix that changes their features)",
    )
    f.add_argument("--write", type=Path, help="write the model here (the packaged one: src/gscpr/refine/...)")
    args = p.parse_args(argv)
    {"collect": collect, "fit": fit, "check": check}[args.command](args)


if __name__ == "__main__":
    main()
