"""benchmarks/pnp.py on the CPU: a small row of each solver (gpu-ransac run on the CPU finds PoseLib's pose), the
iterations of solves that found nothing left out of the median rather than counted as 0, and bad arguments refused
in one line with exit status 2."""

import json

import numpy as np
import pytest

from gscpr.solvers import SOLVERS, SolverOptions
from gscpr.solvers.pnp_poselib import PoseLibPnP

from .fixtures import load_script, run_script


@pytest.fixture(scope="module")
def pnp():
    return load_script("pnp.py")


class FailsAfterWarmUp(PoseLibPnP):
    """PoseLib that finds nothing on every solve but the ``solved``-th ones (1-based, the warm-up is 0); the
    iterations of the poses it returned are kept in ``iterations``."""

    solved: tuple[int, ...] = ()
    calls = 0
    iterations: list[int] = []

    def _solve(self, *args):
        est = super()._solve(*args) if type(self).calls in type(self).solved else None
        type(self).calls += 1
        if est is not None and type(self).calls > 1:
            type(self).iterations.append(est.info["iterations"])
        return est


def run(*args):
    return run_script("pnp.py", *args, timeout=300)


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


@pytest.mark.parametrize("solved", [(2,), ()])
def test_solves_that_find_nothing_are_left_out_of_the_iterations(pnp, monkeypatch, solved):
    monkeypatch.setitem(SOLVERS, "flaky", FailsAfterWarmUp)
    monkeypatch.setattr(FailsAfterWarmUp, "solved", solved)
    monkeypatch.setattr(FailsAfterWarmUp, "calls", 0)
    monkeypatch.setattr(FailsAfterWarmUp, "iterations", [])
    row = pnp.run("flaky", 60, 0.5, 3, SolverOptions(threshold_px=2.0), seed=0)
    assert row["found"] == pytest.approx(len(solved) / 3) and row["iterations_counted"] == len(solved)
    table = pnp.markdown({"device": "cpu", "gpu_ransac_device": "cpu", "date": "today", "torch": "x",
                          "threshold_px": 2.0, "camera": "1920x1080", "rows": [row]}, 3)  # fmt: skip
    cell = table.splitlines()[-1].split("|")[-2].strip()
    if solved:  # the one pose's iterations (PoseLib draws at least 20), not the median of [0, 0, it]
        assert row["iterations_median"] == FailsAfterWarmUp.iterations[0] >= 20
        assert cell == f"{FailsAfterWarmUp.iterations[0]} (1 of 3)"
    else:
        assert row["iterations_median"] is None and cell == "–"
        assert json.loads(json.dumps(row))["iterations_median"] is None
    assert np.isinf(row["rot_deg_max"])
