"""benchmarks/pnp.py on the CPU: a small row of each solver (gpu-ransac run on the CPU finds PoseLib's pose), and
bad arguments refused in one line with exit status 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "pnp.py"


def run(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300)


def test_a_small_cpu_row_gives_both_solvers_the_same_pose(tmp_path):
    out = tmp_path / "pnp.json"
    done = run("--device", "cpu", "--draws", "1", "--ratios", "0.5", "--matches", "60", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = {r["solver"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"poselib", "gpu-ransac"}
    assert rows["poselib"]["found"] == rows["gpu-ransac"]["found"] == 1.0
    assert abs(rows["poselib"]["rot_deg_median"] - rows["gpu-ransac"]["rot_deg_median"]) < 1e-3


@pytest.mark.parametrize(
    "bad, says",
    [
        (["--draws", "0"], "argument --draws: '0' is out of range"),
        (["--ratios", "1.5"], "argument --ratios: '1.5' is out of range"),
        (["--matches", "-3"], "argument --matches: '-3' is out of range"),
        (["--solvers", "ransac"], "argument --solvers: invalid choice: 'ransac'"),
        (["--device", "tpu"], "argument --device: 'tpu'"),
    ],
)
def test_bad_arguments_end_in_one_line(bad, says):
    done = run("--device", "cpu", "--draws", "1", *bad)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
