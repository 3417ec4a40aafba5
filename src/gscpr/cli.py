"""The ``gscpr`` command. Each subcommand lives in the module that does the work (hloc style): the module
exposes ``add_arguments(parser)`` and ``run(args) -> int`` and is imported only when its command runs."""

from __future__ import annotations

import argparse
import importlib
import sys

from .outputs import run_command

# name -> (module, one-line help). Modules are imported lazily so that `gscpr --help` stays fast.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("gscpr.demo", "refine perturbed poses of the embedded mic scene on the CPU (no download, no GPU)"),
    "eval": ("gscpr.evaluate", "pose accuracy against ground truth, paper-style tables and logs"),
    "setup": ("gscpr.data.setup", "download and prepare 7-Scenes, 12-Scenes or Cambridge in the ACE layout"),
    "inspect": ("gscpr.data.inspect", "load any supported dataset folder and summarise it"),
    "refine": ("gscpr.pipeline", "refine coarse poses of a query set: render, match, lift, PnP (resumable)"),
    "render": ("gscpr.render_poses", "render a scene model at every pose of a pose file (RGB + depth)"),
    "bench": ("gscpr.bench.cli", "accuracy of refinement on a scene's held-out views under perturbation protocols"),
    "report": ("gscpr.report", "a self-contained HTML page of bench results: tables, error CDFs, thumbnails"),
    "train": ("gscpr.training.command", "train a 3DGS scene model on a posed dataset (gsplat on CUDA; resumable)"),
}


#: Modes other parts add to a command: command -> modules with ``add_arguments(parser)``, ``claims(args)`` and
#: ``run(args)``; a mode runs the command when it claims the parsed arguments. The paper's ``--dataset`` modes join
#: ``gscpr eval`` and ``gscpr render`` this way, so that the generic modules never import the paper package.
MODES: dict[str, tuple[str, ...]] = {"eval": ("gscpr.paper.evaluate",), "render": ("gscpr.paper.render",)}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser; only the module of the command named in ``argv`` is imported to add its options."""
    from . import __version__
    from .argtypes import ArgumentParser  # errors in one line (exit status 2), in every subcommand too

    parser = ArgumentParser(prog="gscpr", description="Camera pose refinement with 3D Gaussian Splatting (GS-CPR).")
    parser.add_argument("--version", action="version", version=f"gscpr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        if argv[:1] == [name]:
            for mod in (*MODES.get(name, ()), module_name):
                importlib.import_module(mod).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``gscpr`` with ``argv`` (default: the process's); returns the exit status. OS errors, Ctrl-C and a CUDA
    device that is not there end in one line on stderr, from any command (:func:`gscpr.outputs.run_command`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    prefix = f"gscpr {argv[0]}: " if argv[:1] and argv[0] in SUBCOMMANDS else "gscpr: "
    return run_command(lambda: _run(argv), prefix)


def _run(argv: list[str]) -> int:
    args = build_parser(argv).parse_args(argv)
    module = importlib.import_module(args._module)
    for mode in map(importlib.import_module, MODES.get(args.command, ())):
        if mode.claims(args):
            module = mode
            break
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
