"""gscpr render on any scene (--model/--poses/--intrinsics/--out); the paper's datasets: tests/paper/test_render.py."""

import json

import numpy as np
import pytest

from gscpr.cli import main
from gscpr.splat.scaffold import random_scaffold, save_scaffold


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small Scaffold-GS model folder (the one tests/paper/fixtures.py writes for a paper scene)."""
    path = tmp_path_factory.mktemp("model") / "output"
    save_scaffold(random_scaffold(300, seed=0, extent=1.5), path, 30000)
    return path


def test_generic_mode_names_with_slashes_and_bad_lines(tmp_path, model, capsys):
    pose = np.eye(4)
    pose[2, 3] = 3.0
    q = "1 0 0 0 0 0 3"
    (tmp_path / "poses.txt").write_text(
        f"seq-03/frame-000000.color.png {q}\nbad 1 0 0 0 0 nan 3\nseq-03/frame-000001.color.png {q}\n"
    )
    args = [
        "render",
        "--model",
        str(model),
        "--poses",
        str(tmp_path / "poses.txt"),
        "--intrinsics",
        "50,50,31.5,23.5,64,48",
    ]
    rc = main([*args, "--out", str(tmp_path / "out"), "--device", "cpu", "--backend", "torch"])
    assert rc == 1  # one bad line: reported, the rest rendered
    assert (tmp_path / "out" / "seq-03" / "frame-000000.color.png").is_file()
    assert (tmp_path / "out" / "seq-03" / "frame-000001.color.npy").is_file()
    failures = json.loads((tmp_path / "out" / "render_failures.json").read_text())
    assert list(failures) == ["poses.txt:2"] and "NaN" in failures["poses.txt:2"]
    assert "rendered 2" in capsys.readouterr().out
