"""Where the time of one refinement goes: torch.profiler over XFeat refinements at 640x480 (CUDA).

    python benchmarks/profile_refine.py --out $OUT/profile_refine.txt

Same generated scene and queries as benchmarks/refine.py; prints the operators by total CPU and CUDA time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from gscpr.camera import Camera
from gscpr.geometry import perturb_pose
from gscpr.match import load_matcher
from gscpr.refine import RefineConfig, refine_query
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=10)
    p.add_argument("--matcher", default="xfeat")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    cam = Camera.centered(640, 480, 525.0)
    scene = textured_room(n_side=200).to("cuda")
    rng = np.random.default_rng(0)
    gts = [pose_inside(rng) for _ in range(args.queries + 2)]
    with torch.inference_mode():
        images = [render(scene, cam, g).rgb[0].cpu().numpy() for g in gts]
    coarse = [perturb_pose(g, 3.0, 0.05, frame="world", rng=i) for i, g in enumerate(gts)]
    matcher, cfg = load_matcher(args.matcher, "cuda"), RefineConfig(ransac_px=1.0)
    for i in range(2):
        refine_query(scene, images[i], cam, coarse[i], matcher, cfg)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for i in range(2, args.queries + 2):
            with record_function("refine_query"):
                refine_query(scene, images[i], cam, coarse[i], matcher, cfg)
        torch.cuda.synchronize()
    text = "\n\n".join(
        prof.key_averages().table(sort_by=key, row_limit=30) for key in ("cpu_time_total", "cuda_time_total")
    )
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
