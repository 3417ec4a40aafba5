"""The paper's dataset table: where the original's render scripts write each estimator's renders, and which ACT
weights a Cambridge scene's renders take."""

import numpy as np
import pytest
import torch

from gscpr.paper import get_dataset, model_dir
from gscpr.paper.datasets import ActWeights, find_act_weights, released_act_path

from .fixtures import write_project_act, write_released_act


@pytest.mark.parametrize(
    ("dataset", "coarse_name", "names"),
    [
        # render_pred_cam_act.py writes seqN/frameM.png for every estimator (ACE / GLACE: seqN_frameM.png)
        ("cambridge", "seq2_frame00001.png", ["seq2/frame00001.png", "seq2_frame00001.png"]),
        ("cambridge", "seq2/frame00001.png", ["seq2/frame00001.png", "seq2_frame00001.png"]),
        # render_pred_7s.py writes the coarse pose file's name; gs_cpr_7s.py reads either spelling
        ("7scenes", "seq-03-frame-000000.color.png", ["seq-03-frame-000000.color.png",
                                                      "seq-03/frame-000000.color.png"]),
        ("7scenes", "seq-03/frame-000000.color.png", ["seq-03/frame-000000.color.png",
                                                      "seq-03-frame-000000.color.png"]),
        ("12scenes", "frame-000000.color.jpg", ["frame-000000.color.jpg"]),
        ("7scenes", "not-a-7scenes-name.png", ["not-a-7scenes-name.png"]),
    ],
)  # fmt: skip
def test_render_names_start_with_what_the_original_render_script_writes(dataset, coarse_name, names):
    assert get_dataset(dataset).render_names(coarse_name) == names


def test_render_files_take_the_first_name_with_both_files(tmp_path):
    ds = get_dataset("cambridge")
    assert ds.render_files(tmp_path, "seq2_frame00001.png") is None
    (tmp_path / "seq2_frame00001.png").write_bytes(b"")  # gscpr's older flat name, RGB only: not a render
    assert ds.render_files(tmp_path, "seq2_frame00001.png") is None
    np.save(tmp_path / "seq2_frame00001.npy", np.zeros((2, 2), np.float32))
    assert ds.render_files(tmp_path, "seq2_frame00001.png") == (tmp_path / "seq2_frame00001.png",
                                                                tmp_path / "seq2_frame00001.npy")  # fmt: skip
    (tmp_path / "seq2").mkdir()
    (tmp_path / "seq2" / "frame00001.png").write_bytes(b"")
    np.save(tmp_path / "seq2" / "frame00001.npy", np.zeros((2, 2), np.float32))
    assert ds.render_files(tmp_path, "seq2_frame00001.png")[1] == tmp_path / "seq2" / "frame00001.npy"


def test_act_weights_a_trained_act_pt_first_then_the_released_checkpoint(tmp_path):
    assert find_act_weights(tmp_path, "ShopFacade") is None
    released = write_released_act(released_act_path(tmp_path, "ShopFacade"))
    assert released == tmp_path / "ACT_Scaffold_GS" / "logs" / "paper_models" / "ShopFacade" / "030000.tar"
    found = find_act_weights(tmp_path, "ShopFacade")
    assert found.path == released and found.legacy_layout and "legacy channel layout" in found.describe()
    model = model_dir(tmp_path, "cambridge", "ShopFacade")
    for it in (7000, 30000):  # gscpr train --act writing into the iteration folder: the latest one
        write_project_act(model / "point_cloud" / f"iteration_{it}" / "act.pt")
    assert find_act_weights(tmp_path, "ShopFacade").path == model / "point_cloud" / "iteration_30000" / "act.pt"
    ours = write_project_act(model / "act.pt")
    found = find_act_weights(tmp_path, "ShopFacade")
    assert found.path == ours and not found.legacy_layout and "per-pixel RGB" in found.describe()
    assert find_act_weights(tmp_path, "ShopFacade", tmp_path / "other_model").path == released  # --model elsewhere
    for weights in (ours, released):  # both load, and colour every pixel sigmoid(1) with these weights
        write_project_act(ours, bias=1.0)
        write_released_act(released, bias=1.0)
        act = ActWeights(weights, weights.suffix == ".tar").load()
        rgb = act.transform_for(np.zeros((4, 4, 3), np.float32))(torch.rand(4, 4, 3))
        assert np.allclose(rgb.numpy(), 1 / (1 + np.exp(-1.0)), atol=1e-3)


@pytest.mark.parametrize(
    ("dataset", "coarse_name"),
    [
        ("cambridge", "seq2_frame00001.png"),  # ACE, GLACE
        ("cambridge", "seq2/frame00001.png"),  # DFNet
        ("7scenes", "seq-03-frame-000000.color.png"),  # ACE, GLACE, marepo
        ("7scenes", "seq-03/frame-000000.color.png"),  # DFNet
        ("12scenes", "frame-000000.color.jpg"),  # ACE, GLACE, marepo
    ],
)
def test_renders_written_as_the_original_scripts_name_them_are_found(tmp_path, dataset, coarse_name):
    """The original's render scripts: the render under the coarse pose file's name (render_pred_cam_act.py:
    with ``_frame`` made ``/frame``), the depth under the same name with ``.png`` / ``.jpg`` made ``.npy``."""
    rgb = coarse_name.replace("_frame", "/frame") if dataset == "cambridge" else coarse_name
    depth = rgb.replace(".png", ".npy").replace(".jpg", ".npy")
    for name in (rgb, depth):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert get_dataset(dataset).render_files(tmp_path, coarse_name) == (tmp_path / rgb, tmp_path / depth)
