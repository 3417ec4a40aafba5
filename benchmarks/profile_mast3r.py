"""Where MASt3R's time goes on one device: the network of the released ViT-L architecture (random weights, the same
operations as the released model) on one 640x480 pair, under ``torch.profiler``, batch 1 as the refiner calls it.

    PYTHONPATH=src:.gpu/mast3r python benchmarks/profile_mast3r.py --out profile_mast3r.txt   # on the GPU machine

Writes the profiler's tables (operators by device time and by host time) and the median milliseconds of the
input preparation (``resize`` torch and pil), the model's forward and the nearest neighbours, with the device
synchronised around each, so that the paper path's network time (``benchmarks/paper_path.py``) can be taken apart.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gscpr.match import load_matcher
from gscpr.match.mast3r import RELEASED_ARCHITECTURE, mast3r_input, write_random_checkpoint


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median milliseconds of ``fn()`` with the device synchronised around each call (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(1000 * (time.perf_counter() - t0))
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--architecture", default=RELEASED_ARCHITECTURE, help="the model's constructor string")
    p.add_argument("--out", type=Path, default=Path("profile_mast3r.txt"))
    args = p.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = write_random_checkpoint(Path(tmp) / "mast3r.pth", args.architecture)
        matcher = load_matcher("mast3r", device, checkpoint=str(ckpt))
    rng = np.random.default_rng(0)
    arrays = [rng.random((480, 640, 3), dtype=np.float32) for _ in range(2)]  # what Matcher.match takes
    images = [torch.from_numpy(a).permute(2, 0, 1).contiguous().to(device) for a in arrays]  # [3, H, W]
    views = []
    for i, image in enumerate(images):
        views.append(matcher._prepare(image, i)[0])
    ms = {
        "prepare_torch": timed(lambda: mast3r_input(images[0], 512, "torch"), device, args.repeats),
        "prepare_pil": timed(lambda: mast3r_input(images[0], 512, "pil"), device, args.repeats),
    }
    with torch.inference_mode():
        ms["forward"] = timed(lambda: matcher.model(views[0], views[1]), device, args.repeats)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            ms["forward_bf16_autocast"] = timed(lambda: matcher.model(views[0], views[1]), device, args.repeats)
        ms["match"] = timed(lambda: matcher.match(arrays[0], arrays[1]), device, args.repeats)
        activities = [torch.profiler.ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=activities) as prof:
            for _ in range(3):
                matcher.model(views[0], views[1])
            if device.type == "cuda":
                torch.cuda.synchronize(device)
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    text = [json.dumps({"device": str(device), "median_ms": ms}), "", f"# operators by {sort} (3 forwards)",
            prof.key_averages().table(sort_by=sort, row_limit=40), "", "# operators by self host time",
            prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)]  # fmt: skip
    args.out.write_text("\n".join(text))
    print(json.dumps({"device": str(device), "median_ms": ms}))


if __name__ == "__main__":
    main()
