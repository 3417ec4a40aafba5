"""PnP solvers at low inlier ratios: median time and pose error of PoseLib's CPU LO-RANSAC and gpu-ransac.

    python benchmarks/pnp.py --out benchmarks/results/pnp_<gpu>_<date>.json
    python benchmarks/pnp.py --device cpu --draws 3     # a quick look without a GPU

Correspondences are generated for a 1920x1080 camera (focal 1500 px): scene points 2-8 units in front filling
the image, 0.5 px of Gaussian noise on the inliers, the rest replaced by random pixels, for every inlier ratio
and number of matches asked for. Each solver (its default RANSAC bounds, threshold ``--threshold`` px) solves
``--draws`` scenes after one warm-up solve; a row gives the median wall time of a solve (host to host, the
GPU's synchronisations included), the median and worst rotation error (degrees) and camera-centre error
(units; the scene is 2-8 deep), the median inliers and RANSAC iterations, and how often the pose was found
(rotation error under 1 degree). A solver that finds no pose returns nothing, not the samples it drew: the
iterations median is over the draws that returned a pose and reported its iterations (``iterations_counted`` of
``draws``; ``null`` and "–" when none did, as for OpenCV, which does not say). Prints JSON and a markdown table
(``--out``: both written, ``.json`` and ``.md``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gscpr.argtypes import device_arg, fraction, positive_float, positive_int
from gscpr.camera import Camera
from gscpr.geometry import axis_angle_to_rotmat, make_pose, pose_errors
from gscpr.solvers import SolverOptions, get_solver, solver_names

CAMERA = Camera.centered(1920, 1080, 1500.0)


def correspondences(n: int, inlier_ratio: float, rng: np.random.Generator, noise_px: float = 0.5):
    """A random w2c pose and ``n`` matches of which ``round(inlier_ratio * n)`` are right: (pose, p2d, p3d)."""
    pose = make_pose(axis_angle_to_rotmat(rng.normal(size=3)), rng.normal(size=3) * 2)
    pix = rng.uniform([0, 0], [CAMERA.width - 1, CAMERA.height - 1], (n, 2))
    p_cam = np.column_stack([(pix - [CAMERA.cx, CAMERA.cy]) / [CAMERA.fx, CAMERA.fy], np.ones(n)])
    p_cam *= rng.uniform(2, 8, (n, 1))
    p3d = (p_cam - pose[:3, 3]) @ pose[:3, :3]
    p2d = CAMERA.project(p_cam) + rng.normal(scale=noise_px, size=(n, 2))
    bad = rng.permutation(n) >= round(inlier_ratio * n)
    p2d[bad] = rng.uniform([0, 0], [CAMERA.width - 1, CAMERA.height - 1], (bad.sum(), 2))
    return pose, p2d, p3d


def run(solver_name: str, n: int, ratio: float, draws: int, options: SolverOptions, seed: int) -> dict:
    solver = get_solver(solver_name)
    rng = np.random.default_rng(seed)
    _, p2d, p3d = correspondences(n, ratio, rng)
    solver.solve(p2d, p3d, CAMERA, options)  # warm-up: kernels, allocator, imports
    times, rot, centre, inliers, iterations = [], [], [], [], []
    for _ in range(draws):
        pose, p2d, p3d = correspondences(n, ratio, rng)
        t0 = time.perf_counter()
        est = solver.solve(p2d, p3d, CAMERA, options)
        times.append(1e3 * (time.perf_counter() - t0))
        r, c = pose_errors(est.pose, pose) if est is not None else (np.inf, np.inf)
        rot.append(float(r))
        centre.append(float(c))
        inliers.append(est.num_inliers if est is not None else 0)
        if est is not None and "iterations" in est.info:  # a failed solve drew samples, but does not say how many
            iterations.append(est.info["iterations"])
    return {
        "solver": solver_name,
        "matches": n,
        "inlier_ratio": ratio,
        "draws": draws,
        "ms_median": float(np.median(times)),
        "ms_p90": float(np.percentile(times, 90)),
        "rot_deg_median": float(np.median(rot)),
        "rot_deg_max": float(np.max(rot)),
        "centre_median": float(np.median(centre)),
        "centre_max": float(np.max(centre)),
        "found": float(np.mean(np.asarray(rot) < 1.0)),
        "inliers_median": float(np.median(inliers)),
        "iterations_median": float(np.median(iterations)) if iterations else None,
        "iterations_counted": len(iterations),  # the draws the iterations median is over
    }


def iterations_cell(row: dict) -> str:
    """The table's iterations: the median over the draws that returned a pose, "(k of n)" when some did not."""
    if row["iterations_median"] is None:
        return "–"
    some = "" if row["iterations_counted"] == row["draws"] else f" ({row['iterations_counted']} of {row['draws']})"
    return f"{row['iterations_median']:.0f}{some}"


def markdown(result: dict, draws: int) -> str:
    """The results as a markdown table under a line saying the device, date, draws, threshold and camera."""
    lines = [
        f"{result['device']}, gpu-ransac on {result['gpu_ransac_device']}, {result['date']}, torch {result['torch']}, "
        f"{draws} draws per row, threshold {result['threshold_px']} px, camera {result['camera']}",
        "",
        "| matches | inlier ratio | solver | ms (median) | ms (p90) | rot ° (median / max) | centre (median / max) "
        "| found | inliers | iterations (poses returned) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['matches']} | {r['inlier_ratio']:.2f} | {r['solver']} | {r['ms_median']:.2f} | {r['ms_p90']:.2f} | "
            f"{r['rot_deg_median']:.4f} / {r['rot_deg_max']:.3g} | {r['centre_median']:.5f} / {r['centre_max']:.3g} | "
            f"{r['found']:.2f} | {r['inliers_median']:.0f} | {iterations_cell(r)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", type=fraction, nargs="+", default=[0.9, 0.5, 0.3, 0.2, 0.1, 0.05])
    parser.add_argument("--matches", type=positive_int, nargs="+", default=[1000, 2000])
    parser.add_argument("--solvers", nargs="+", choices=solver_names("absolute"), default=["poselib", "gpu-ransac"])
    parser.add_argument("--draws", type=positive_int, default=30, help="scenes per row (after one warm-up solve)")
    parser.add_argument("--threshold", type=positive_float, default=2.0, help="inlier threshold, px")
    parser.add_argument(
        "--device", type=device_arg, default="cuda" if torch.cuda.is_available() else "cpu", help="gpu-ransac's"
    )
    parser.add_argument("--chunk", type=positive_int, help="gpu-ransac's samples per chunk (default: its own)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the JSON here")
    args = parser.parse_args()

    rows = []
    for n in args.matches:
        for ratio in args.ratios:
            for name in args.solvers:
                backend = {"device": args.device, "chunk": args.chunk} if name == "gpu-ransac" else {}
                options = SolverOptions(threshold_px=args.threshold, seed=args.seed, backend=backend)
                row = run(name, n, ratio, args.draws, options, seed=args.seed + n + round(100 * ratio))
                rows.append(row)
                print(json.dumps(row), flush=True)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    result = {
        "benchmark": "pnp",
        "device": device,
        "gpu_ransac_device": args.device,
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "camera": "1920x1080, f 1500 px",
        "threshold_px": args.threshold,
        "rows": rows,
    }
    table = markdown(result, args.draws)
    print("\n" + table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        args.out.with_suffix(".md").write_text(table + "\n")


if __name__ == "__main__":
    main()
