"""The benchmark scripts as the tests use them: loaded as modules, or run as a user runs them."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def script(name: str) -> Path:
    """``benchmarks/<name>`` of the checkout."""
    return ROOT / "benchmarks" / name


def load_script(name: str) -> ModuleType:
    """``benchmarks/<name>`` imported as a module (its ``main`` not run)."""
    spec = importlib.util.spec_from_file_location(Path(name).stem, script(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *args, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``python benchmarks/<name> ARGS`` with the checkout's ``src`` on the path; output captured as text."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, str(script(name)), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)  # fmt: skip
