"""benchmarks/refine_real.py: bad arguments refused in one line with exit status 2, before any scene is loaded
or trained (a zero batch, view count or size, an unknown solver, a scene that is not NAME=FOLDER or no dataset)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "refine_real.py"


@pytest.mark.parametrize(
    "bad, says",
    [
        (["--batch", "0"], "argument --batch: '0' is out of range"),
        (["--views", "0"], "argument --views: '0' is out of range"),
        (["--max-side", "0"], "argument --max-side: '0' is out of range"),
        (["--solvers", "ransac"], "argument --solvers: invalid choice: 'ransac'"),
        (["--scene", "mic"], "argument --scene: 'mic': expected NAME=FOLDER"),
        (["--scene", "mic={missing}"], "no such dataset folder"),
    ],
)
def test_bad_arguments_end_in_one_line(tmp_path, bad, says):
    bad = [b.format(missing=tmp_path / "missing") for b in bad]
    scene = tmp_path / "scene"
    scene.mkdir()
    (scene / "transforms_test.json").write_text('{"camera_angle_x": 0.7, "frames": []}')
    args = ["--scene", f"s={scene}", "--work", str(tmp_path / "work"), "--device", "cpu", *bad]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "work").exists()  # refused before anything was trained or written
