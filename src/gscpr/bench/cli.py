"""``gscpr bench``'s command line: parses arguments into :func:`gscpr.bench.bench` and prints ``bench.md``'s
tables; defaults come from :class:`~gscpr.bench.BenchConfig` and :func:`~gscpr.bench.bench`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..argtypes import default_device, device_arg, nonnegative_int, positive_float, positive_int
from .protocols import PROTOCOLS
from .run import DEFAULT_TRAIN_STEPS, BenchConfig, bench
from .tables import format_tables


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..match import MATCHERS
    from ..recipes import RECIPES
    from ..solvers import solver_names

    d = BenchConfig()
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (Blender, instant-ngp, LLFF, ...)")
    parser.add_argument("--model", type=Path, help="scene model (PLY or model folder); default: OUT/model")
    parser.add_argument(
        "--train-steps", type=positive_int, default=DEFAULT_TRAIN_STEPS, help="train OUT/model this long if missing"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scene", help="name in the results (default: the data folder's)")
    once = " (each once, in the order given)"
    parser.add_argument("--protocols", nargs="+", default=list(d.protocols), choices=list(PROTOCOLS), help=once[1:])
    parser.add_argument("--matchers", nargs="+", default=list(d.matchers), choices=MATCHERS, help=once[1:])
    parser.add_argument("--solvers", nargs="+", default=list(d.solvers), choices=solver_names("absolute"),
                        help="PnP solvers; paper is opencv-epnp" + once)  # fmt: skip
    parser.add_argument("--iterations", type=positive_int, default=d.iterations,
                        help="passes at most (default: the recipe's)")  # fmt: skip
    parser.add_argument("--ransac-px", type=positive_float, default=d.ransac_px,
                        help="PnP threshold (default: the recipe's)")  # fmt: skip
    parser.add_argument("--recipe", default=d.recipe, choices=list(RECIPES), help="refinement preset (gscpr.recipes)")
    parser.add_argument("--max-queries", type=positive_int, default=d.max_queries, help="only the first N test views")
    parser.add_argument("--seed", type=nonnegative_int, default=d.seed)
    parser.add_argument("--device", type=device_arg, default=default_device(), help="cpu, cuda or cuda:N")


def run(args: argparse.Namespace) -> int:
    from ..data import DatasetError
    from ..match import MatchError

    cfg = BenchConfig(protocols=tuple(args.protocols), matchers=tuple(args.matchers), solvers=tuple(args.solvers),
                      iterations=args.iterations, ransac_px=args.ransac_px, recipe=args.recipe, seed=args.seed,
                      max_queries=args.max_queries)  # fmt: skip
    try:
        result = bench(args.data, args.out, args.model, cfg=cfg, train_steps=args.train_steps, scene=args.scene,
                       device=args.device)  # fmt: skip
    except (DatasetError, MatchError, ValueError) as e:  # OS errors: gscpr.outputs.run_command's one line
        print(f"gscpr bench: error: {e}", file=sys.stderr)
        return 2
    print(format_tables(result))
    return 0
