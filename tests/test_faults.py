"""Faults, as a user meets them, driven through the command line over a table: each ends in one line on stderr
naming the file and the problem, exit status 2 (130 for Ctrl-C), no traceback, and nothing finished is lost
(a rerun of the same command completes the work)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from gscpr.camera import Camera
from gscpr.cli import main
from gscpr.geometry import perturb_pose
from gscpr.outputs import LOCK_FILE, output_folder
from gscpr.poses import write_poses
from gscpr.records import read_records
from gscpr.synthetic import write_room_queries

CAM = Camera.centered(240, 180, 200.0)
ROOT = Path(__file__).resolve().parents[1]
#: A tqdm progress line ("refining:  50%|█████ | 2/4 [00:01<00:01, ...]"): the only other thing on stderr.
PROGRESS = re.compile(r"\|\s*\d+/\d+ \[")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A generated room: its PLY, a Blender query folder of 4 views and their coarse poses."""
    root = tmp_path_factory.mktemp("faults")
    _, gt = write_room_queries(root, CAM, 4, seed=5)
    write_poses(root / "coarse.txt", {n: perturb_pose(p, 2.0, 0.04, frame="world", rng=i)
                                      for i, (n, p) in enumerate(gt.items())})  # fmt: skip
    return root


@dataclass
class Case:
    """What a fault's command line is, what it must say and what must hold afterwards."""

    argv: list[str]
    says: list[str]  # words of the one line (the file and the problem)
    status: int = 2
    check: Callable[[], None] | None = None  # after the command: nothing lost
    rerun: list[str] = field(default_factory=list)  # the same command, fault gone: completes (exit 0)


def problem_lines(err: str) -> list[str]:
    """stderr's lines less progress bars."""
    return [line for line in re.split(r"[\r\n]+", err) if line.strip() and not PROGRESS.search(line)]


def refine_argv(scene: Path, out: Path, **change) -> list[str]:
    opts = {"--model": scene / "scene.ply", "--data": scene / "data", "--poses": scene / "coarse.txt", "--out": out,
            "--device": "cpu", "--matcher": "sift", "--iterations": "1", **change}  # fmt: skip
    return ["refine", *(str(x) for kv in opts.items() for x in kv)]


def render_argv(scene: Path, out: Path) -> list[str]:
    return ["render", "--model", str(scene / "scene.ply"), "--poses", str(scene / "coarse.txt"), "--intrinsics",
            "40,40,31.5,23.5,64,48", "--out", str(out), "--device", "cpu", "--backend", "torch"]  # fmt: skip


def records(out: Path) -> dict[str, dict]:
    """The records of ``out/results.jsonl`` as gscpr reads them (a torn last line skipped)."""
    return read_records(out / "results.jsonl")


def read_only_folder(tmp: Path) -> Path:
    """A folder no file can be created in: made read-only, or (root ignores permissions) one of sysfs'."""
    if os.geteuid() != 0:
        folder = tmp / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    folder = Path("/sys/kernel")  # read-only for root too in containers and on most hosts
    try:
        (folder / ".gscpr-test").open("w").close()
    except OSError:
        return folder
    (folder / ".gscpr-test").unlink()
    pytest.skip("running as root with a writable /sys/kernel: no read-only folder to test with")


# ----------------------------------------------------------------------------- the faults
def read_only_output(scene, tmp, mp) -> Case:
    out = read_only_folder(tmp)
    return Case(refine_argv(scene, out), [str(out), "denied"])


def output_is_a_file(scene, tmp, mp) -> Case:
    (tmp / "out").write_text("not a folder")
    return Case(refine_argv(scene, tmp / "out"), [str(tmp / "out"), "is a file, not a folder"])


def output_under_a_file(scene, tmp, mp) -> Case:
    (tmp / "out").write_text("not a folder")
    return Case(refine_argv(scene, tmp / "out" / "run1"), [str(tmp / "out"), "is a file, not a folder"])


def missing_model(scene, tmp, mp) -> Case:
    model = tmp / "none.ply"
    return Case(refine_argv(scene, tmp / "out", **{"--model": model}), [str(model), "no such"])


def truncated_ply(scene, tmp, mp) -> Case:
    data = (scene / "scene.ply").read_bytes()
    (tmp / "cut.ply").write_bytes(data[: len(data) // 2])
    return Case(refine_argv(scene, tmp / "out", **{"--model": tmp / "cut.ply"}), [str(tmp / "cut.ply")])


def no_good_pose_line(scene, tmp, mp) -> Case:
    (tmp / "poses.txt").write_text("test/r_0.png 1 0 0 0 x 0 0\n")
    return Case(refine_argv(scene, tmp / "out", **{"--poses": tmp / "poses.txt"}), [str(tmp / "poses.txt")])


def every_pose_line_bad(scene, tmp, mp) -> Case:
    """No good line: the one line gives the first bad line's reason, not only a count."""
    (tmp / "poses.txt").write_text("test/r_0.png 0 0 0 0 1 2 3\ntest/r_1.png 0 0 0 0 1 2 3\n")
    return Case(refine_argv(scene, tmp / "out", **{"--poses": tmp / "poses.txt"}),
                [str(tmp / "poses.txt"), "every line malformed: 2", "line 1: quaternion has zero length"])  # fmt: skip


def poses_is_a_folder(scene, tmp, mp) -> Case:
    (tmp / "poses").mkdir()
    return Case(refine_argv(scene, tmp / "out", **{"--poses": tmp / "poses"}),
                [str(tmp / "poses"), "is a folder, not a pose file"])  # fmt: skip


def data_is_a_file(scene, tmp, mp) -> Case:
    return Case(refine_argv(scene, tmp / "out", **{"--data": scene / "coarse.txt"}),
                [str(scene / "coarse.txt"), "is a file, not a dataset folder"])  # fmt: skip


def model_is_a_broken_link(scene, tmp, mp) -> Case:
    (tmp / "scene.ply").symlink_to(tmp / "moved" / "scene.ply")
    return Case(refine_argv(scene, tmp / "out", **{"--model": tmp / "scene.ply"}),
                [str(tmp / "scene.ply"), f"broken symbolic link to {tmp / 'moved' / 'scene.ply'}"])  # fmt: skip


def eval_json_under_a_file(scene, tmp, mp) -> Case:
    (tmp / "afile").write_text("")
    coarse = str(scene / "coarse.txt")
    return Case(["eval", "--poses", coarse, "--gt", coarse, "--json", str(tmp / "afile" / "e.json")],
                [str(tmp / "afile"), "is a file, not a folder"])  # fmt: skip


def one_bad_pose_line(scene, tmp, mp) -> Case:
    """One bad line never stops a run: said (naming the file and line), the other poses refined."""
    lines = (scene / "coarse.txt").read_text().splitlines()
    name = lines[0].split()[0]
    (tmp / "poses.txt").write_text("\n".join([f"{name} 1 0 0 0 x 0 0", *lines[1:]]) + "\n")

    def check():
        assert sorted(records(tmp / "out")) == sorted(line.split()[0] for line in lines[1:])

    return Case(refine_argv(scene, tmp / "out", **{"--poses": tmp / "poses.txt"}), [f"{tmp / 'poses.txt'}:1"], 0,
                check)  # fmt: skip


def bad_image(scene, tmp, mp) -> Case:
    """A query image that is not one: recorded (bad_input, the coarse pose kept), the run goes on, exit 0."""
    shutil.copytree(scene / "data", tmp / "data")
    (tmp / "data" / "test" / "r_1.png").write_bytes(b"\x89PNG but cut here")

    def check():
        recs = records(tmp / "out")
        assert recs["test/r_1.png"]["status"] == "bad_input" and "r_1.png" in recs["test/r_1.png"]["message"]
        assert sum(r["status"] == "refined" for r in recs.values()) == 3

    return Case(refine_argv(scene, tmp / "out", **{"--data": tmp / "data"}), [], 0, check)


def disk_full(scene, tmp, mp) -> Case:
    """The disk fills after two records: the third write fails part-way (a torn line); the two stay."""
    import gscpr.records

    out, real_open = tmp / "out", open

    class FillingFile:
        def __init__(self, f):
            self.f, self.left = f, 2

        def write(self, data):
            if self.left == 0:
                self.f.write(bytes(data[:10]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.left -= bytes(data).count(b"\n")
            return self.f.write(data)

        def close(self):
            self.f.close()

    def filling_open(path, mode="r", *a, **k):
        f = real_open(path, mode, *a, **k)
        return FillingFile(f) if Path(path).name == "results.jsonl" and "a" in mode else f

    mp.setattr(gscpr.records, "open", filling_open, raising=False)

    def check():
        assert len(records(out)) == 2  # the torn third line is skipped by readers
        mp.undo()

    return Case(refine_argv(scene, out), [str(out / "results.jsonl"), "No space left on device"], 2, check,
                refine_argv(scene, out))  # fmt: skip


def disk_full_while_rendering(scene, tmp, mp) -> Case:
    """A depth file cut by a full disk is never left for the resumed run to take."""
    out, real_save, saved = tmp / "renders", np.save, []

    def filling_save(file, arr, *a, **k):
        if len(saved) == 2:
            Path(file).write_bytes(b"\x93NUMPY cut")  # the part that fitted
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        saved.append(file)
        return real_save(file, arr, *a, **k)

    mp.setattr(np, "save", filling_save)

    def check():
        mp.undo()
        assert len(list(out.rglob("*.npy"))) == 2 and not list(out.rglob("*.tmp*"))  # no torn file, no leftover
        for f in out.rglob("*.npy"):
            assert np.load(f).shape == (48, 64)

    return Case(render_argv(scene, out), [str(out), ".npy", "No space left on device"], 2, check,
                render_argv(scene, out))  # fmt: skip


def lock_held(scene, tmp, mp) -> Case:
    """Another run holds the folder: this one stops at once, naming it (pid, host, start time)."""
    out = tmp / "out"
    holder = output_folder(out)
    holder.__enter__()

    def check():
        holder.__exit__(None, None, None)
        assert records(out) == {}  # no work done twice

    return Case(refine_argv(scene, out), [str(out), "in use by another gscpr run", f"pid {os.getpid()}", "started"],
                2, check, refine_argv(scene, out))  # fmt: skip


def render_lock_held(scene, tmp, mp) -> Case:
    out = tmp / "renders"
    holder = output_folder(out)
    holder.__enter__()

    def check():
        holder.__exit__(None, None, None)
        assert not list(out.rglob("*.npy"))

    return Case(render_argv(scene, out), [str(out), "in use by another gscpr run"], 2, check, render_argv(scene, out))


def ctrl_c_while_refining(scene, tmp, mp) -> Case:
    """Ctrl-C on the third query: the two finished records stay, the line says so."""
    from gscpr.refine import Refiner

    out, real, calls = tmp / "out", Refiner.refine, []

    def refine(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    mp.setattr(Refiner, "refine", refine)

    def check():
        assert len(records(out)) == 2
        mp.undo()

    return Case(refine_argv(scene, out), ["interrupted; 2 records kept in", str(out), "resume with the same command"],
                130, check, refine_argv(scene, out))  # fmt: skip


def ctrl_c_at_start_up(scene, tmp, mp) -> Case:
    import gscpr.splat.model

    def load(*a, **k):
        raise KeyboardInterrupt

    mp.setattr(gscpr.splat.model, "load_scene_model", load)
    return Case(refine_argv(scene, tmp / "out"), ["interrupted; 0 records kept", "resume with the same command"], 130)


def cuda_without_a_gpu(scene, tmp, mp) -> Case:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available here")
    return Case(refine_argv(scene, tmp / "out", **{"--device": "cuda"}), ["CUDA", "--device cpu"])


FAULTS = [read_only_output, output_is_a_file, output_under_a_file, missing_model, truncated_ply, no_good_pose_line,
          every_pose_line_bad, poses_is_a_folder, data_is_a_file, model_is_a_broken_link, eval_json_under_a_file,
          one_bad_pose_line, bad_image, disk_full, disk_full_while_rendering, lock_held, render_lock_held,
          ctrl_c_while_refining, ctrl_c_at_start_up, cuda_without_a_gpu]  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__)
def test_a_fault_is_one_line_and_loses_nothing(fault, scene, tmp_path, monkeypatch, capsys):
    case = fault(scene, tmp_path, monkeypatch)
    try:
        status = main(case.argv)
    except SystemExit as e:  # refused while parsing the arguments (argparse's exit, its one line printed)
        status = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = problem_lines(err)
    if case.status == 0:
        assert status == 0
        assert all(line.startswith("warning:") for line in lines), lines
        assert all(any(w in line for line in lines) for w in case.says), lines
    else:
        assert status == case.status, err
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"gscpr {case.argv[0]}: "), lines
        assert all(w in lines[0] for w in case.says), lines
        assert ".tmp" not in lines[0] and ".gscpr-write-test" not in lines[0]  # the user's file, not ours
    if case.check:
        case.check()
    if case.rerun:
        monkeypatch.undo()
        assert main(case.rerun) == 0  # the fault gone, the same command completes what is left
        capsys.readouterr()


def test_a_resumed_run_after_a_full_disk_redoes_only_what_was_not_recorded(scene, tmp_path, monkeypatch, capsys):
    case = disk_full(scene, tmp_path, monkeypatch)
    assert main(case.argv) == 2
    kept = records(tmp_path / "out")
    case.check()
    assert main(case.rerun) == 0
    after = records(tmp_path / "out")
    assert len(after) == 4 and all(after[n] == r for n, r in kept.items())  # the two kept, not redone


# ----------------------------------------------------------------------------- real processes
def run_process(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_gscpr_process_read_only_output_is_one_line(scene, tmp_path):
    out = read_only_folder(tmp_path)
    p = run_process(["-m", "gscpr", *refine_argv(scene, out / "run")])
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert problem_lines(p.stderr) == [p.stderr.strip()] and str(out) in p.stderr


@pytest.mark.parametrize("script", ["gs_cpr_7s.py", "gs_cpr_cam_rel.py"])
def test_paper_scripts_say_one_line_for_an_output_folder_they_cannot_write(script, tmp_path):
    (tmp_path / "outputs").write_text("a file where the outputs folder goes")
    p = run_process([str(ROOT / script), "--root", str(tmp_path), "--matcher", "sift", "--device", "cpu"])
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip() == f"error: {tmp_path / 'outputs'}: is a file, not a folder"


def test_paper_script_lock_and_ctrl_c(tmp_path, monkeypatch, capsys):
    import gscpr.paper.run as paper_run
    from gscpr.paper.naming import results_dir

    out = results_dir(tmp_path / "outputs", "7scenes", "ace")
    argv = ["--root", str(tmp_path), "--matcher", "sift", "--device", "cpu"]
    with output_folder(out):
        assert paper_run.main("7scenes", argv=argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: in use by another gscpr run (pid {os.getpid()}") and err.count("\n") == 1

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(paper_run, "load_matcher", interrupt)
    assert paper_run.main("7scenes", argv=argv) == 130
    assert capsys.readouterr().err == (f"interrupted; 0 records kept in {out}, resume with the same command\n")
    assert (out / LOCK_FILE).is_file()  # the lock went with the run; the next one takes it
    with output_folder(out):
        pass


class InterruptImport:
    """A meta-path finder that raises KeyboardInterrupt when ``name`` is imported: Ctrl-C while it loads."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name:
            raise KeyboardInterrupt
        return None


@pytest.mark.parametrize("module", ["gscpr.pipeline", "gscpr.splat.model"])
def test_ctrl_c_while_a_command_loads_is_one_line(module, scene, tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [InterruptImport(module), *sys.meta_path])
    assert main(refine_argv(scene, tmp_path / "out")) == 130
    assert capsys.readouterr().err == "gscpr refine: interrupted; nothing written yet, resume with the same command\n"


def test_ctrl_c_while_a_paper_script_loads_is_one_line(tmp_path, monkeypatch, capsys):
    import runpy

    monkeypatch.delitem(sys.modules, "gscpr.paper.run", raising=False)
    monkeypatch.setattr(sys, "meta_path", [InterruptImport("gscpr.paper.run"), *sys.meta_path])
    monkeypatch.setattr(sys, "argv", ["gs_cpr_7s.py", "--root", str(tmp_path)])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(ROOT / "gs_cpr_7s.py"), run_name="__main__")
    assert info.value.code == 130
    assert capsys.readouterr().err == "interrupted; nothing written yet, resume with the same command\n"
