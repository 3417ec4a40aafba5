"""What each difference between the ``paper`` and ``gscpr`` recipes does: one recipe, one option flipped at a time.

    python benchmarks/recipes.py                                   # CPU, XFeat, ~10-15 min on 2 busy cores
    python benchmarks/recipes.py --base gscpr --out benchmarks/results

The flips are every field of :class:`~gscpr.refine.RefineConfig` whose value differs between the two recipes
(found by comparing them, so a new difference is measured without editing this file). Each variant refines the
same queries with XFeat (MASt3R's weights cannot be fetched here), one pass, the torch rasterizer:

* ``room``: the generated textured room (``gscpr.synthetic``), query images rendered at the true poses (240x180,
  f = 200), coarse poses 2° / 0.04 units off (camera distance to the walls ~1.5 units);
* ``mic``: the embedded 3DGS model of NeRF-synthetic ``mic`` (trained on its train images) against held-out test
  images of ``../shared/data/nerf_synthetic/mic`` not embedded in the package, at 200x200 (half size, to keep the
  CPU renders short), coarse poses 3° / 0.12 units off (camera distance 4). Skipped, with the reason in the
  output, where ``../shared`` is absent.

Renders are shared where the flip cannot change them: the depth-epsilon flip takes its depth from the same render
(``sum(z a T)`` is ``depth * (alpha + eps)``, exact), the near-plane flip reuses it where no Gaussian lies between
the two near planes at that pose (checked per query; otherwise it renders); only the alpha cap renders again.
Matches are computed once per render. ``ms/query`` is the render and match time of its render plus the
variant's own stages (sub-pixel, lifting, PnP, recovery renders), on this machine's CPU.

Per render flip also how much it changes the renders (mean |RGB| difference, share of pixels whose depth moves by
more than 0.1 %) and the share of the model's Gaussians above the 0.99 alpha cap.

Per variant: refined (status ``refined``), success (refined, rotation < 0.5° and translation < 1 % of the camera
distance), refined but worse (marked refined, yet farther from the truth than the coarse pose: a wrong pose that
passed every check), median rotation / translation error over all queries (the coarse pose where none was refined) and
ms per query. Prints JSON and a markdown table; ``--out`` writes ``recipes_cpu_<date>.json`` / ``.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch

from gscpr.camera import Camera
from gscpr.evaluate import within
from gscpr.geometry import perturb_pose, pose_errors
from gscpr.match import load_matcher
from gscpr.recipes import RECIPES, get_recipe
from gscpr.refine import RefineConfig, Refiner
from gscpr.refine.matching import QueryImage
from gscpr.refine.types import Render
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
RENDER_FIELDS = ("near_plane", "alpha_cap", "depth_eps")


def differences(base: str, other: str) -> list[tuple[str, object]]:
    """``[(field, other's value)]`` for every RefineConfig field where the two recipes differ."""
    a, b = RECIPES[base], RECIPES[other]
    return [(f.name, getattr(b, f.name)) for f in fields(RefineConfig) if getattr(a, f.name) != getattr(b, f.name)]


def room_queries(n: int) -> tuple[object, list[dict], float, tuple]:
    scene, cam = textured_room(), Camera.centered(240, 180, 200.0)
    out = []
    for i in range(n):
        gt = pose_inside(np.random.default_rng(100 + i))
        image = render(scene, cam, gt, backend="torch").rgb[0].numpy()
        out.append({"name": f"room_{i}", "image": image, "camera": cam, "gt": gt,
                    "coarse": perturb_pose(gt, 2.0, 0.04, frame="world", rng=i)})  # fmt: skip
    return scene, out, 1.5, (0.0, 0.0, 0.0)


def mic_queries(n: int) -> tuple[object, list[dict], float, tuple] | str:
    """The embedded mic model and ``n`` test views from ``../shared`` that the package does not embed, or why not."""
    from gscpr.data import load_blender
    from gscpr.data.images import load_rgb
    from gscpr.demo import WHITE, demo_scene_dir
    from gscpr.splat import load_ply

    shared = SHARED / "nerf_synthetic" / "mic"
    if not (shared / "transforms_test.json").is_file():
        return f"no {shared} (../shared/data is absent here)"
    embedded = {f.name for f in load_blender(demo_scene_dir(), "test")}
    frames = [f for f in load_blender(shared, "test") if f.name not in embedded][:n]
    model = load_ply(demo_scene_dir() / "mic.ply", "cpu")
    out = []
    for i, f in enumerate(frames):
        cam = f.camera.scaled(0.5)
        full = torch.from_numpy(load_rgb(f.image_path, WHITE)).permute(2, 0, 1)[None]
        image = torch.nn.functional.interpolate(full, size=(cam.height, cam.width), mode="area")[0]
        out.append({"name": f.name, "image": image.permute(1, 2, 0).numpy(), "camera": cam, "gt": f.pose,
                    "coarse": perturb_pose(f.pose, 3.0, 0.12, frame="world", rng=i)})  # fmt: skip
    return model, out, 4.0, WHITE


def gaussians_between(model, pose: np.ndarray, lo: float, hi: float) -> bool:
    """Whether a Gaussian centre of ``model`` lies at view depth in ``(lo, hi]`` at ``pose`` (w2c)."""
    means = model.gaussians_for_view(torch.as_tensor(pose, dtype=torch.float32), None, 0, 0).means
    z = means.detach().cpu().numpy() @ pose[2, :3] + pose[2, 3]
    return bool(((z > lo) & (z <= hi)).any())


class Renders:
    """Renders and matches at the coarse poses of one scene, shared between variants (see the module docstring)."""

    def __init__(self, model, matcher, background):
        self.model, self.matcher, self.background = model, matcher, background
        self.cache: dict[tuple, tuple[Render, object, float]] = {}

    def get(self, q: dict, cfg: RefineConfig) -> tuple[Render, object, float]:
        """``(render, matches, seconds to render and match)`` of query ``q`` under ``cfg``'s render options."""
        near, cap, eps = (getattr(cfg, f) for f in RENDER_FIELDS)
        key = (q["name"], near, cap, eps)
        if key in self.cache:
            return self.cache[key]
        # The same pixels: a depth epsilon is a normaliser of the same accumulated z.
        for other in [k for k in self.cache if k[:3] == key[:3]]:
            r, m, s = self.cache[other]
            acc = r.depth * (r.alpha + other[3] if other[3] > 0 else np.maximum(r.alpha, 1e-10))
            depth = acc / (r.alpha + eps if eps > 0 else np.maximum(r.alpha, 1e-10))
            self.cache[key] = (replace(r, depth=depth.astype(np.float32)), m, s)
            return self.cache[key]
        # The same Gaussians: no centre between the two near planes at this pose.
        for other in [k for k in self.cache if k[0] == key[0] and k[2:] == key[2:]]:
            lo, hi = sorted((other[1], near))
            if not gaussians_between(self.model, q["coarse"], lo, hi):
                self.cache[key] = self.cache[other]
                return self.cache[key]
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = render(self.model, q["camera"], q["coarse"], background=self.background, backend="torch",
                         near_plane=near, alpha_cap=cap, depth_eps=eps)  # fmt: skip
        r = Render(out.rgb[0], out.depth[0].numpy(), out.alpha[0].numpy(), q["camera"])
        query = QueryImage.prepare(q["image"], q["camera"], cfg, self.matcher.device)
        try:
            matches = self.matcher.match(r.rgb, query.for_matching)
        except (RuntimeError, ValueError):
            matches = None
        self.cache[key] = (r, matches, time.perf_counter() - t0)
        return self.cache[key]


def render_change(renders: Renders, queries: list[dict], a: RefineConfig, b: RefineConfig) -> dict:
    """How much a render flip changes the renders themselves: mean |RGB difference| (8-bit levels) and the share of
    pixels whose depth moves by more than 0.1 %, over ``queries``."""
    rgb, depth = [], []
    for q in queries:
        ra, rb = renders.get(q, a)[0], renders.get(q, b)[0]
        rgb.append(float((ra.rgb - rb.rgb).abs().mean()) * 255)
        da, db = ra.depth, rb.depth
        depth.append(float((np.abs(da - db) > 1e-3 * np.maximum(np.abs(da), 1e-9)).mean()))
    return {"mean_abs_rgb_levels": float(np.mean(rgb)), "depth_pixels_changed": float(np.mean(depth))}


def run_variant(cfg: RefineConfig, queries: list[dict], renders: Renders, distance: float) -> dict:
    errors, coarse, refined, ms = [], [], [], []
    for q in queries:
        r0, matches, seconds = renders.get(q, cfg)
        res = Refiner(renders.model, renders.matcher, cfg).refine(q["image"], q["camera"], q["coarse"], r0, matches)
        errors.append(pose_errors(res.pose, q["gt"]))
        coarse.append(pose_errors(q["coarse"], q["gt"]))
        refined.append(res.ok)
        ms.append(1000 * (seconds + sum(res.timings.values())))
    e, c, ok = np.array(errors), np.array(coarse), np.array(refined)
    success = ok & within(e[:, 0], e[:, 1] / distance, 0.5, 0.01)
    worse = ok & ((e[:, 0] > c[:, 0]) | (e[:, 1] > c[:, 1]))  # marked refined, farther from the truth than before
    return {"refined": float(ok.mean()), "success": float(success.mean()), "refined_but_worse": float(worse.mean()),
            "median_rot_deg": float(np.median(e[:, 0])),
            "median_trans": float(np.median(e[:, 1])), "ms_per_query": float(np.median(ms)),
            "queries": len(queries)}  # fmt: skip


def fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else ("()" if v == () else str(v))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="paper", choices=list(RECIPES), help="the recipe the flips start from")
    p.add_argument("--other", default=None, help="the recipe whose values are flipped in (default: the other one)")
    p.add_argument("--room-views", type=int, default=6)
    p.add_argument("--mic-views", type=int, default=4)
    p.add_argument("--out", type=Path, help="write recipes_cpu_<date>.json / .md here")
    args = p.parse_args()
    other = args.other or next(n for n in RECIPES if n != args.base)
    torch.manual_seed(0)
    matcher = load_matcher("xfeat", "cpu")
    flips = differences(args.base, other)
    variants = [(args.base, {}), *[(f"{name}={fmt(v)}", {name: v}) for name, v in flips], (other, dict(flips))]
    result = {"base": args.base, "other": other, "matcher": "xfeat", "device": "cpu", "backend": "torch",
              "date": datetime.date.today().isoformat(), "torch_threads": torch.get_num_threads(),
              "flips": {n: [fmt(getattr(RECIPES[args.base], n)), fmt(v)] for n, v in flips},
              "scenes": {}, "skipped": {}}  # fmt: skip
    t_start = time.perf_counter()
    for scene, loader, n in (("room", room_queries, args.room_views), ("mic", mic_queries, args.mic_views)):
        loaded = loader(n)
        if isinstance(loaded, str):
            result["skipped"][scene] = loaded
            print(f"{scene}: skipped: {loaded}", flush=True)
            continue
        model, queries, distance, background = loaded
        if not queries:
            result["skipped"][scene] = "no queries"
            continue
        renders, rows = Renders(model, matcher, background), {}
        for label, over in variants:
            cfg = get_recipe(args.base, **{**over, "background": background, "backend": "torch"})
            rows[label] = run_variant(cfg, queries, renders, distance)
            print(scene, label, json.dumps(rows[label]), flush=True)
        base_cfg = get_recipe(args.base, background=background, backend="torch")
        changes = {f"{n}={fmt(v)}": render_change(renders, queries, base_cfg, replace(base_cfg, **{n: v}))
                   for n, v in flips if n in RENDER_FIELDS}  # fmt: skip
        opacities = model.gaussians_for_view(torch.eye(4), None, 0, 0).opacities.detach().cpu().numpy()
        result["scenes"][scene] = {"distance": distance, "rows": rows, "render_changes": changes,
                                   "opacity_above_0.99": float((opacities > 0.99).mean())}  # fmt: skip
    result["seconds"] = time.perf_counter() - t_start
    table = markdown(result)
    print(json.dumps(result, indent=1))
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.out / f"recipes_cpu_{result['date']}"
        stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
        stem.with_suffix(".md").write_text(table + "\n")


def markdown(result: dict) -> str:
    lines = [f"Recipes: `{result['base']}` with one option of `{result['other']}` at a time; XFeat, one pass, torch "
             f"rasterizer on the CPU ({result['date']}, {result['torch_threads']} threads). Success: refined, "
             "< 0.5° and < 1 % of the camera distance.", ""]  # fmt: skip
    for scene, s in result["scenes"].items():
        n = next(iter(s["rows"].values()))["queries"]
        lines += [f"**{scene}** ({n} queries, camera distance {s['distance']:g})", "",
                  "| variant | refined | success | refined but worse | median rot (°) | median trans | ms/query |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for label, r in s["rows"].items():
            lines.append(f"| {label} | {r['refined']:.0%} | {r['success']:.0%} | {r['refined_but_worse']:.0%} | "
                         f"{r['median_rot_deg']:.3f} | "
                         f"{r['median_trans']:.4f} | {r['ms_per_query']:.0f} |")  # fmt: skip
        lines.append("")
        if s.get("render_changes"):
            lines.append(
                f"Render changes ({s['opacity_above_0.99']:.1%} of the model's Gaussians have opacity > 0.99): "
                + "; ".join(
                    f"{k}: {v['mean_abs_rgb_levels']:.3f} RGB levels, depth changed at "
                    f"{v['depth_pixels_changed']:.2%} of pixels"
                    for k, v in s["render_changes"].items()
                )
            )
            lines.append("")
    for scene, why in result["skipped"].items():
        lines.append(f"**{scene}**: skipped: {why}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
