import pytest
import torch

from gscpr.outputs import LOCK_FILE
from gscpr.splat.gaussians import Gaussians, PlyFormatError, save_ply
from gscpr.splat.model import load_scene_model
from gscpr.splat.scaffold import ScaffoldModel, random_scaffold, save_scaffold


def test_loads_each_kind_of_model(tmp_path):
    g = Gaussians.from_points(torch.rand(5, 3), torch.rand(5, 3), 0.01)
    save_ply(tmp_path / "scene.ply", g)
    assert isinstance(load_scene_model(tmp_path / "scene.ply"), Gaussians)
    save_ply(tmp_path / "inria" / "point_cloud" / "iteration_7000" / "point_cloud.ply", g)  # Inria output layout
    save_ply(tmp_path / "inria" / "point_cloud" / "iteration_30000" / "point_cloud.ply", g.subset(slice(0, 2)))
    assert len(load_scene_model(tmp_path / "inria")) == 2  # the latest iteration
    assert len(load_scene_model(tmp_path / "inria", iteration=7000)) == 5
    save_scaffold(random_scaffold(4), tmp_path / "scaffold", 30000)
    assert isinstance(load_scene_model(tmp_path / "scaffold"), ScaffoldModel)
    with pytest.raises(PlyFormatError, match="no such model"):
        load_scene_model(tmp_path / "nothing")


# ----------------------------------------------------------------------------- every command, every bad scene file
def _bad_scene(tmp_path, kind: str):
    """A scene file with one fault: ``(path, what its one line must say)``."""
    import numpy as np

    g = Gaussians.from_points(torch.rand(40, 3), torch.rand(40, 3), 0.05)
    path = tmp_path / {"empty": "empty.ply", "truncated": "cut.ply", "not_ply": "notes.ply", "text": "scene.txt",
                       "int_opacity": "int.ply", "empty_splat": "none.splat", "cut_spz": "cut.spz"}[kind]  # fmt: skip
    if kind == "empty":
        save_ply(path, g.subset(torch.zeros(40, dtype=torch.bool)))
        return path, "no Gaussians in the file"
    if kind == "truncated":
        save_ply(path, g)
        path.write_bytes(path.read_bytes()[:-200])
        return path, "truncated"
    if kind in ("not_ply", "text"):
        path.write_text("x y z\n1 2 3\n")
        return path, "not a readable PLY file" if kind == "not_ply" else "not a scene model file gscpr reads"
    if kind == "int_opacity":
        save_ply(path, g)
        data = path.read_bytes().replace(b"property float opacity", b"property int opacity")
        path.write_bytes(data)
        return path, "opacity (int) are not stored as floats"
    if kind == "empty_splat":
        path.write_bytes(b"")
        return path, "no Gaussians in the file"
    import gzip

    path.write_bytes(gzip.compress(b"NGSP" + np.array([3, 100], "<u4").tobytes() + bytes([1, 12, 0, 0]))[:-4])
    return path, "truncated or corrupt .spz"


KINDS = ["empty", "truncated", "not_ply", "text", "int_opacity", "empty_splat", "cut_spz"]


@pytest.fixture(scope="module")
def query_set(tmp_path_factory):
    """A one-image Blender query folder and its coarse pose, for ``gscpr refine``."""
    import numpy as np

    from gscpr.camera import Camera
    from gscpr.poses import write_poses
    from gscpr.synthetic import write_blender_views

    root = tmp_path_factory.mktemp("queries")
    g = Gaussians.from_points(torch.rand(20, 3) - 0.5, torch.rand(20, 3), 0.1)
    pose = np.eye(4)
    pose[2, 3] = 3.0
    names = write_blender_views(root / "data", g, Camera.centered(16, 16, 14.0), [pose])
    write_poses(root / "coarse.txt", {names[0]: pose})
    return root


def _one_line_exit_2(capsys, argv, path, message):
    from gscpr.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert str(path) in err and message in err, err


@pytest.mark.parametrize("kind", KINDS)
def test_gscpr_render_refuses_a_bad_scene_file_in_one_line(tmp_path, capsys, kind):
    path, message = _bad_scene(tmp_path, kind)
    (tmp_path / "poses.txt").write_text("a.png 1 0 0 0 0 0 3\n")
    argv = ["render", "--model", str(path), "--poses", str(tmp_path / "poses.txt"), "--intrinsics",
            "10,10,7.5,7.5,16,16", "--out", str(tmp_path / "out"), "--device", "cpu"]  # fmt: skip
    _one_line_exit_2(capsys, argv, path, message)
    out = tmp_path / "out"  # checked and locked before the model loads: its lock file only
    assert not out.exists() or [f.name for f in out.iterdir()] in ([], [LOCK_FILE])


@pytest.mark.parametrize("kind", KINDS)
def test_gscpr_refine_refuses_a_bad_scene_file_in_one_line(tmp_path, capsys, query_set, kind):
    path, message = _bad_scene(tmp_path, kind)
    argv = ["refine", "--model", str(path), "--data", str(query_set / "data"), "--poses", str(query_set / "coarse.txt"),
            "--out", str(tmp_path / "out"), "--device", "cpu", "--matcher", "sift"]  # fmt: skip
    _one_line_exit_2(capsys, argv, path, message)


def test_a_warning_reaches_the_command_line_once(tmp_path, capsys, query_set):
    """Unknown properties: one ``warning:`` line from ``gscpr render`` naming them, and the render goes on."""
    import numpy as np
    from plyfile import PlyData, PlyElement

    from gscpr.cli import main

    save_ply(tmp_path / "s.ply", Gaussians.from_points(torch.rand(20, 3) - 0.5, torch.rand(20, 3), 0.1))
    v = np.asarray(PlyData.read(str(tmp_path / "s.ply"))["vertex"].data)
    out = np.empty(len(v), [*v.dtype.descr, ("shininess", "<f4")])
    for n in v.dtype.names:
        out[n] = v[n]
    PlyData([PlyElement.describe(out, "vertex")]).write(str(tmp_path / "s.ply"))
    (tmp_path / "poses.txt").write_text("a.png 1 0 0 0 0 0 3\n")
    argv = ["render", "--model", str(tmp_path / "s.ply"), "--poses", str(tmp_path / "poses.txt"), "--intrinsics",
            "10,10,7.5,7.5,16,16", "--out", str(tmp_path / "out"), "--device", "cpu", "--backend", "torch"]  # fmt: skip
    assert main(argv) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "s.ply: ignored" in warnings[0] and "shininess" in warnings[0]


def test_the_background_a_model_was_trained_on_where_its_files_say(tmp_path):
    """A model folder's cfg_args (Inria 3DGS and Scaffold-GS) says white or black; a bare scene file says nothing."""
    from gscpr.splat.model import scene_background

    g = Gaussians.from_points(torch.rand(5, 3), torch.rand(5, 3), 0.01)
    save_ply(tmp_path / "scene.ply", g)
    assert scene_background(load_scene_model(tmp_path / "scene.ply"), tmp_path / "scene.ply") is None
    inria = tmp_path / "inria"
    save_ply(inria / "point_cloud" / "iteration_30000" / "point_cloud.ply", g)
    assert scene_background(load_scene_model(inria), inria) is None  # no cfg_args
    (inria / "cfg_args").write_text("Namespace(sh_degree=3, source_path='/data/lego', white_background=True)")
    assert scene_background(load_scene_model(inria), inria) == (1.0, 1.0, 1.0)
    (inria / "cfg_args").write_text("Namespace(white_background=False, eval=True)")
    assert scene_background(load_scene_model(inria), inria) == (0.0, 0.0, 0.0)
    scaffold = random_scaffold(4)
    scaffold.config.white_background = True
    save_scaffold(scaffold, tmp_path / "scaffold", 30000)
    assert scene_background(load_scene_model(tmp_path / "scaffold")) == (1.0, 1.0, 1.0)  # the model's own
