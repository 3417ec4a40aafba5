import pytest
import torch

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
