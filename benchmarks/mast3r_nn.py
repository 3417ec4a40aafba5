"""MASt3R's reciprocal nearest neighbours on one device: gscpr's ``reciprocal_nn`` against mast3r's own
``fast_reciprocal_NNs`` (as the original calls it), on descriptor maps of the 640x480 working size (384x512x24),
with whether they return the same pairs.

    PYTHONPATH=src:../shared/third_party/mast3r python benchmarks/mast3r_nn.py --device cuda --repeats 20

Descriptor maps are generated (the second a shifted, noisy copy of the first), so no checkpoint is needed; the
matcher's own per-stage times are ``Mast3rMatcher.last_timings`` (``network``, ``nn``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from gscpr.match.mast3r import NN_METHODS


def descriptor_pair(h: int, w: int, dim: int = 24, noise: float = 0.3, seed: int = 0, device="cpu"):
    """Two unit descriptor maps ``[h, w, dim]``: the second sees the first shifted by (3, 5) px, plus noise."""
    g = torch.Generator().manual_seed(seed)
    d1 = torch.nn.functional.normalize(torch.randn(h, w, dim, generator=g), dim=-1)
    d0 = torch.nn.functional.normalize(d1.roll((3, 5), (0, 1)) + noise * torch.randn(h, w, dim, generator=g), dim=-1)
    return d0.to(device), d1.to(device)


def benchmark_nn(device: str = "cpu", size: tuple[int, int] = (384, 512), repeats: int = 5) -> dict:
    """Median milliseconds of each implementation in :data:`NN_METHODS` on ``device`` and whether all agree."""
    d0, d1 = descriptor_pair(*size, device=device)
    out, pairs = {"device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"}, {}
    for name, fn in NN_METHODS.items():
        pairs[name] = fn(d0, d1)  # warm-up (kernels, allocator)
        times = []
        for _ in range(repeats):
            if device.startswith("cuda"):
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            fn(d0, d1)
            if device.startswith("cuda"):
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t0)
        out[f"{name}_ms"] = 1000 * float(np.median(times))
        out[f"{name}_pairs"] = len(pairs[name][0])
    ref = pairs["gscpr"]
    out["same_pairs"] = all(np.array_equal(ref[0], p[0]) and np.array_equal(ref[1], p[1]) for p in pairs.values())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--height", type=int, default=384)
    p.add_argument("--width", type=int, default=512)
    args = p.parse_args()
    print(json.dumps(benchmark_nn(args.device, (args.height, args.width), args.repeats)))


if __name__ == "__main__":
    main()
