"""benchmarks/refine_real.py: bad arguments refused in one line with exit status 2, before any scene is loaded
or trained (a zero batch, view count or size, an unknown solver, a scene that is not NAME=FOLDER or no dataset);
a row of the generated room on the CPU (``run_row``): ``--profile`` sees the timed queries only, and without
verification nothing is said to be accepted (``null``, "–" in the table, which says why)."""

import cProfile
import pstats

import numpy as np
import pytest

from gscpr.camera import Camera
from gscpr.geometry import perturb_pose
from gscpr.match import load_matcher
from gscpr.refine import RefineConfig
from gscpr.splat import render
from gscpr.synthetic import pose_inside, textured_room

from .fixtures import load_script, run_script

CAM = Camera.centered(320, 240, 260.0)


@pytest.fixture(scope="module")
def refine_real():
    return load_script("refine_real.py")


@pytest.fixture(scope="module")
def room_row():
    """The generated room, three rendered queries with their true and coarse (3°, 5 cm off) poses, XFeat on the CPU:
    ``run_row``'s arguments up to the config."""
    room = textured_room()
    gts = np.stack([pose_inside(np.random.default_rng(s)) for s in (1, 2, 3)])
    images = list(render(room, CAM, gts, backend="torch").rgb.numpy())
    coarse = np.stack([perturb_pose(g, 3.0, 0.05, frame="world", rng=s) for s, g in enumerate(gts)])
    return room, images, [CAM] * 3, coarse, gts, 4.0, load_matcher("xfeat", "cpu")


def calls(profiler: cProfile.Profile, function: str) -> int:
    """How many times ``profiler`` saw ``function`` (a name) called."""
    return sum(nc for (_, _, name), (_, nc, *_) in pstats.Stats(profiler).stats.items() if name == function)


def test_the_profile_holds_the_timed_queries_not_the_warm_up(refine_real, room_row, tmp_path):
    profiler = cProfile.Profile()
    row = refine_real.run_row(*room_row, RefineConfig(ransac_px=1.0, recovery=()), 1, 1, "cpu", profiler)
    assert row["queries"] == 3 and row["success"] == 1.0
    assert calls(profiler, "refine_query") == 3  # the two warm-up queries are not in it
    out = tmp_path / "profile.txt"
    refine_real.write_profile(profiler, out, top=5)
    text = out.read_text()
    cumulative, own = text.index("# top 5 by cumulative time"), text.index("# top 5 by own time (tottime)")
    assert 0 == cumulative < own and text.count("Ordered by: cumulative") == text.count("Ordered by: internal") == 1


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
    done = run_script("refine_real.py", *args, timeout=120)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "work").exists()  # refused before anything was trained or written


def test_without_verification_nothing_is_said_to_be_accepted(refine_real, room_row):
    cfg = RefineConfig(ransac_px=1.0, recovery=())
    verified = refine_real.run_row(*room_row, cfg, 1, 1, "cpu")
    unverified = refine_real.run_row(*room_row, RefineConfig(ransac_px=1.0, recovery=(), verify=False), 1, 1, "cpu")
    assert verified["accepted"] == verified["success_accepted"] == 1.0
    assert unverified["success"] == 1.0 and unverified["accepted"] is unverified["success_accepted"] is None
    for row in (verified, unverified):
        row.update(scene="room", size="320x240", protocol="p", matcher="xfeat", solver="poselib", batch=1)
    table = refine_real.markdown([verified, unverified], verify=False).splitlines()
    assert table[0].startswith("verification off (--no-verify)")
    head = [c.strip() for c in table[2].split("|")]
    on, off = ([c.strip() for c in line.split("|")] for line in table[-2:])
    at = head.index("accepted")
    assert (
        on[at : at + 2] == ["100 %", "100 %"]
        and off[at : at + 2] == ["–", "–"]
        and off[head.index("success")] == "100 %"
    )
    assert not refine_real.markdown([verified], verify=True).startswith("verification off")
