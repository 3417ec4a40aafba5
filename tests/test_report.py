import json
import os
import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from gscpr.bench import BenchConfig, bench_scene
from gscpr.camera import Camera
from gscpr.cli import main
from gscpr.data import load_blender
from gscpr.match import Matches, load_matcher
from gscpr.report import cdf_svg, write_report
from gscpr.synthetic import pose_inside, textured_room, write_blender_views


class NoMatches:
    """A matcher that finds nothing: every query of its run fails and keeps its coarse pose."""

    name = "none"
    device = "cpu"

    def match(self, image0, image1):
        return Matches.empty()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two bench runs of a generated scene: XFeat (refines) and a matcher that finds nothing (fails)."""
    root = tmp_path_factory.mktemp("report")
    scene = textured_room()
    rng = np.random.default_rng(4)
    write_blender_views(root / "data", scene, Camera.centered(160, 120, 140.0), [pose_inside(rng) for _ in range(3)])
    frames = load_blender(root / "data", "test")

    def loader(name, device):
        return NoMatches() if name == "none" else load_matcher(name, device)

    cfg = BenchConfig(protocols=("coarse-ace",), matchers=("xfeat", "none"), solvers=("poselib",), iterations=1)
    bench_scene(scene, frames, "blender", root / "bench" / "room", cfg, "room", load_matcher=loader, progress=False)
    return root / "bench"


def test_report_is_one_self_contained_page_with_failures_first(results, capsys):
    assert main(["report", str(results)]) == 0
    page = (results / "report.html").read_text()
    assert "wrote" in capsys.readouterr().out
    # Self-contained: no network (or any external) asset.
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page
    assert page.count("<svg") == 3  # rotation and translation CDFs of the one protocol, the reliability plot
    assert page.count("data:image/jpeg;base64,") == 3 + 3  # 3 failures (matcher "none") + 3 successes
    # Failures come before the table, successes after it; the failing run's cause is in the table.
    assert page.index("fail_") < page.index("<table") < page.index('alt="ok_')
    assert "too_few_matches 3" in page and "xfeat" in page
    assert "ACE on 7-Scenes" in page and "half-normal 0.3" in page  # the protocol that drew the noise
    # What refined is worth: the columns, the reliability plot of XFeat's confidences, each thumbnail's confidence.
    assert all(h in page for h in ("precision", "recall", "ECE", "Confidence: reliability", "predicted confidence"))
    assert (
        page.count(": too_few_matches, no confidence,") == 3
        and len(re.findall(r": refined, confidence \d\.\d\d,", page)) == 3
    )


def test_report_of_runs_without_confidences_says_so(results, tmp_path):
    """A bench.json of an older gscpr (no confidence, no acceptance figures) or of runs with verification off."""
    bench = json.loads((results / "room" / "bench.json").read_text())
    for run in bench["runs"]:
        for key in ("acceptance_rate", "precision", "recall", "ece", "reliability", "confidence_recorded"):
            run.pop(key, None)
        for q in run["per_query"]:
            q.pop("confidence", None)
            q.pop("solved", None)
    folder = tmp_path / "old"
    shutil.copytree(results / "room", folder)
    (folder / "bench.json").write_text(json.dumps(bench))
    page = write_report(folder).read_text()
    assert "no confidence recorded" in page and page.count("<svg") == 2 and ": refined, no confidence," in page


def test_report_errors_name_the_folder(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert f"{tmp_path}: no bench.json" in capsys.readouterr().err


def test_another_tools_bench_json_is_passed_over_and_a_damaged_one_named(results, tmp_path, capsys):
    import json

    root = tmp_path / "results"
    shutil.copytree(results, root)
    for i, foreign in enumerate(({}, [], {"benchmarks": [{"name": "test_x", "stats": {}}]})):  # pytest-benchmark's
        (root / f"other{i}").mkdir()
        (root / f"other{i}" / "bench.json").write_text(json.dumps(foreign))
    assert main(["report", str(root)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("not a gscpr bench result") == 3
    assert f"{root / 'other1' / 'bench.json'}: not a gscpr bench result" in err
    assert (root / "report.html").is_file()
    assert main(["report", str(root / "other0" / "bench.json")]) == 2  # asked for by name: refused
    assert "other0/bench.json: not a gscpr bench result" in capsys.readouterr().err
    shutil.rmtree(root / "room")
    assert main(["report", str(root)]) == 2  # only others' files: nothing to show
    assert f"{root}: no bench.json of gscpr bench found" in capsys.readouterr().err.splitlines()[-1]
    damaged = json.loads((results / "room" / "bench.json").read_text())
    del damaged["runs"][0]["after"]
    (root / "room").mkdir()
    (root / "room" / "bench.json").write_text(json.dumps(damaged))
    assert main(["report", str(root)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("gscpr report: error: ") and "room/bench.json: damaged bench result" in line, line


def test_cdf_plot_is_a_staircase_per_series():
    svg = cdf_svg([("a", np.array([0.1, 1.0, 10.0]), "#000", False), ("b", np.array([]), "#f00", True)], "x", 1e-2, 1e2)
    assert svg.count("<polyline") == 1  # an empty series has a legend entry but no line
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert len(points) == 2 + 2 * 3  # start, two corners per value, end
    assert ">a<" in svg and ">b<" in svg


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    not CHROMIUM and not os.environ.get("GSCPR_REQUIRE_CHROMIUM"),
    reason="Chromium is not installed (.ci/run installs Debian's chromium)",
)
def test_report_renders_in_headless_chromium(results, tmp_path):
    assert CHROMIUM, "GSCPR_REQUIRE_CHROMIUM is set but chromium is not on PATH"
    page = write_report(results, tmp_path / "report.html")
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    # Chromium parsed the page: the table, the plots and the images are in its DOM.
    assert "coarse-ace" in dom and dom.count("<svg") == 3 and dom.count("<img") == 6
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri()],
                   capture_output=True, timeout=120)  # fmt: skip
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (1600, 1280)
    assert img.std() > 20  # not a blank page: text, thumbnails and plots were drawn
