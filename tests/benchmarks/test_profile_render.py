"""benchmarks/profile_render.py: bad arguments refused in one line with exit status 2, before any scene is made."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "profile_render.py"


@pytest.mark.parametrize(
    "bad, says",
    [
        (["--batch", "0"], "argument --batch: '0' is out of range"),
        (["--repeats", "0"], "argument --repeats: '0' is out of range"),  # was a median of no times: nan
        (["--resolution", "0x48"], "argument --resolution: '0x48': expected WIDTHxHEIGHT"),
        (["--resolution", "640"], "argument --resolution: '640': expected WIDTHxHEIGHT"),
        (["--focal", "-1"], "argument --focal: '-1' is out of range"),
    ],
)
def test_bad_arguments_end_in_one_line(bad, says):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(SCRIPT), *bad], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
