"""The argument types every command line shares (``gscpr.argtypes``), and every command's use of them: a value that
cannot mean what its option asks for is one line naming the option and the value, exit status 2, no traceback."""

import argparse

import pytest
import torch

from gscpr.argtypes import (
    check_device,
    device_arg,
    fraction,
    int_in,
    nonnegative_int,
    open_fraction,
    positive_float,
    positive_int,
)
from gscpr.cli import main
from gscpr.paper.run import main as paper_main


@pytest.mark.parametrize(
    "kind, text, expected",
    [
        (positive_int, "3", 3),
        (nonnegative_int, "0", 0),
        (positive_float, "0.25", 0.25),
        (positive_float, "1e-3", 1e-3),
        (fraction, "1", 1.0),
        (fraction, "0", 0.0),
        (open_fraction, "0.99", 0.99),
        (int_in(0, 100), "100", 100),
    ],
)
def test_values_that_mean_what_the_option_asks_are_taken(kind, text, expected):
    assert kind(text) == expected and type(kind(text)) is type(expected)


@pytest.mark.parametrize(
    "kind, text, said",
    [
        (positive_int, "0", "out of range; expected a whole number >= 1"),
        (positive_int, "-2", "out of range"),
        (positive_int, "1.5", "not a whole number"),
        (positive_int, "nan", "not a whole number"),
        (nonnegative_int, "-1", "expected a whole number >= 0"),
        (positive_float, "0", "expected a finite number > 0"),
        (positive_float, "-0.5", "out of range"),
        (positive_float, "nan", "not a finite number"),
        (positive_float, "inf", "not a finite number"),
        (positive_float, "-Infinity", "not a finite number"),
        (positive_float, "two", "not a number"),
        (fraction, "1.5", "expected a number in [0, 1]"),
        (fraction, "NaN", "not a finite number"),
        (open_fraction, "1", "strictly between 0 and 1"),
        (int_in(0, 3), "4", "from 0 to 3"),
    ],
)
def test_values_that_cannot_mean_it_are_refused_naming_the_value(kind, text, said):
    with pytest.raises(argparse.ArgumentTypeError, match=None) as e:
        kind(text)
    assert said in str(e.value) and repr(text) in str(e.value)


@pytest.fixture
def one_gpu(monkeypatch):
    """A machine with one CUDA GPU, as far as the checks can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_devices_this_machine_has_are_taken(one_gpu):
    assert [check_device(d) for d in ("cpu", "cuda", "cuda:0")] == ["cpu", "cuda", "cuda:0"]


@pytest.mark.parametrize(
    "name, said",
    [
        ("cuda:7", "'cuda:7': there is 1 CUDA GPU here (cuda:0)"),
        ("banana", "'banana' is not a device; expected cpu, cuda or cuda:N"),
        ("cuda:x", "is not a device"),
        ("", "is not a device"),
        ("meta", "gscpr runs on cpu or cuda[:N], not on meta"),
    ],
)
def test_devices_it_does_not_have_are_refused_saying_why(one_gpu, name, said):
    with pytest.raises(ValueError) as e:
        check_device(name)
    assert said in str(e.value)
    with pytest.raises(argparse.ArgumentTypeError):
        device_arg(name)


def test_cuda_without_a_gpu_is_refused(no_gpu):
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="use --device cpu"):
            check_device(name)
    assert check_device("cpu") == "cpu"


# ----------------------------------------------------------------------------- every command
def _refused(capsys, run, *flags: str) -> str:
    """``run()`` exits with status 2 while parsing, saying one line that names every one of ``flags``."""
    with pytest.raises(SystemExit) as e:
        run()
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert all(flag in err for flag in flags), err
    return err


REFINE = ["refine", "--model", "m.ply", "--data", "d", "--poses", "p.txt", "--out", "o"]
BENCH = ["bench", "--data", "d", "--out", "o"]
RENDER = ["render", "--model", "m.ply", "--poses", "p.txt", "--intrinsics", "500,500,319.5,239.5,640,480", "--out", "o"]
TRAIN = ["train", "--data", "d", "--out", "o"]
DEMO = ["demo", "--out", "o"]
PAPER = [("7scenes", False), ("7scenes", True), ("cambridge", True)]


@pytest.mark.parametrize("command", [REFINE, BENCH, RENDER, TRAIN, DEMO], ids=lambda c: c[0])
@pytest.mark.parametrize("device, said", [("cuda:7", "there is 1 CUDA GPU here"), ("gpu", "is not a device")])
def test_every_command_refuses_a_device_it_cannot_use(capsys, one_gpu, command, device, said, tmp_path):
    _refused(capsys, lambda: main([*command, "--device", device]), "error: argument --device", device, said)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("dataset, relative", PAPER)
def test_the_paper_scripts_refuse_a_device_they_cannot_use(capsys, no_gpu, dataset, relative):
    argv = ["--device", "cuda", "--matcher", "xfeat"]
    _refused(capsys, lambda: paper_main(dataset, relative, argv), "--device", "no CUDA GPU is visible")


@pytest.mark.parametrize(
    "argv, flag",
    [
        ([*REFINE, "--ransac-px", "nan"], "--ransac-px"),
        ([*REFINE, "--ransac-px", "-1"], "--ransac-px"),
        ([*REFINE, "--iterations", "0"], "--iterations"),
        ([*REFINE, "--max-size", "0"], "--max-size"),
        ([*REFINE, "--batch-size", "-3"], "--batch-size"),
        ([*REFINE, "--workers", "0"], "--workers"),
        ([*REFINE, "--overlays", "-1"], "--overlays"),
        ([*REFINE, "--min-inliers", "0"], "--min-inliers"),
        ([*REFINE, "--render-scale", "inf"], "--render-scale"),
        ([*REFINE, "--max-matches", "-5"], "--max-matches"),
        ([*REFINE, "--alpha-cap", "1"], "--alpha-cap"),
        ([*REFINE, "--near-plane", "-0.1"], "--near-plane"),
        ([*REFINE, "--background", "1", "nan", "1"], "--background"),
        ([*REFINE, "--background", "0", "0", "255"], "--background"),
        ([*BENCH, "--iterations", "-1"], "--iterations"),
        ([*BENCH, "--ransac-px", "0"], "--ransac-px"),
        ([*BENCH, "--max-queries", "0"], "--max-queries"),
        ([*BENCH, "--train-steps", "0"], "--train-steps"),
        ([*BENCH, "--seed", "-1"], "--seed"),
        ([*RENDER, "--batch", "0"], "--batch"),
        ([*RENDER, "--jpeg-quality", "101"], "--jpeg-quality"),
        ([*RENDER, "--depth-eps", "nan"], "--depth-eps"),
        ([*RENDER, "--alpha-cap", "0"], "--alpha-cap"),
        ([*RENDER, "--iteration", "-1"], "--iteration"),
        ([*RENDER[:-3], "500,500,319.5,239.5,640", "--out", "o"], "--intrinsics"),
        ([*RENDER[:-3], "0,500,319.5,239.5,640,480", "--out", "o"], "--intrinsics"),
        ([*RENDER[:-3], "500,500,nan,239.5,640,480", "--out", "o"], "--intrinsics"),
        ([*TRAIN, "--iterations", "0"], "--iterations"),
        ([*TRAIN, "--max-size", "inf"], "--max-size"),
        ([*TRAIN, "--init-points", "-10"], "--init-points"),
        ([*TRAIN, "--sh-degree", "4"], "--sh-degree"),
        ([*TRAIN, "--cap-max", "0"], "--cap-max"),
        ([*TRAIN, "--save-steps", "100", "-1"], "--save-steps"),
        ([*TRAIN, "--background", "2", "2", "2"], "--background"),
        ([*TRAIN, "--voxel-size", "nan"], "--voxel-size"),
        ([*DEMO, "--rot", "-1"], "--rot"),
        ([*DEMO, "--matcher", "nope"], "--matcher"),
    ],
)
def test_numbers_that_mean_nothing_are_refused_in_one_line(capsys, argv, flag):
    bad = argv[argv.index(flag) + 1 :]
    err = _refused(capsys, lambda: main(argv), f"argument {flag}")
    assert any(repr(v) in err or repr(v.split(",")[0]) in err or v in err for v in bad), err


@pytest.mark.parametrize("dataset, relative", PAPER)
@pytest.mark.parametrize("option, value", [("--ransac_px", "nan"), ("--iterations", "0"), ("--workers", "-1")])
def test_the_paper_scripts_refuse_them_too(capsys, dataset, relative, option, value):
    _refused(capsys, lambda: paper_main(dataset, relative, [option, value]), option, repr(value))


@pytest.mark.parametrize("argv", [[*REFINE, "--scheme", "ace"], ["eval", "--poses", "p", "--gt", "g", "--scheme", "x"]])
def test_an_unknown_name_scheme_lists_the_schemes(capsys, argv):
    _refused(capsys, lambda: main(argv), "--scheme", "7scenes", "12scenes", "cambridge", "exact", "auto")
