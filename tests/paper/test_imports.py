"""Imports run one way: gscpr.paper uses the generic modules, which import it only inside their CLI functions."""

import subprocess
import sys
from pathlib import Path

import gscpr

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m.startswith("gscpr.paper"))
assert not loaded, loaded
"""


def test_generic_modules_do_not_import_the_paper_package():
    root = Path(gscpr.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] in ("paper", "__main__"):
            continue
        names.append(".".join(("gscpr", *parts[:-1])) if parts[-1] == "__init__" else ".".join(("gscpr", *parts)))
    assert "gscpr.evaluate" in names and "gscpr.render_poses" in names
    proc = subprocess.run([sys.executable, "-c", CHECK, *names], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
