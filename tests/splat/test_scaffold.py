import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement
from torch import nn

from gscpr.camera import Camera
from gscpr.geometry import make_pose
from gscpr.splat import render
from gscpr.splat.scaffold import (
    ScaffoldConfig,
    ScaffoldFormatError,
    ScaffoldModel,
    load_scaffold,
    random_scaffold,
    save_scaffold,
)

CAM = Camera.centered(64, 48, 60.0)
POSE = make_pose(np.eye(3), [0.0, 0.0, 4.0])


def test_round_trip_is_bit_identical_and_renders_the_same(tmp_path):
    model = random_scaffold(150, appearance_dim=8, seed=1)
    before = render(model, CAM, POSE, backend="torch")
    assert before.alpha.mean() > 0.2 and before.rgb.std() > 0.01  # a non-trivial image
    save_scaffold(model, tmp_path / "out", 30000)
    loaded = load_scaffold(tmp_path / "out")
    for name in ["anchors", "features", "offsets", "log_scaling", "opacity_logits", "rotations"]:
        assert torch.equal(getattr(loaded, name), getattr(model, name)), name
    x = torch.randn(5, 32 + 3 + 8)
    assert torch.equal(loaded.mlp_color(x), model.mlp_color(x))
    after = render(loaded, CAM, POSE, backend="torch")
    assert torch.equal(after.rgb, before.rgb) and torch.equal(after.depth, before.depth)
    # Saving the loaded model again gives files that reload identically.
    save_scaffold(loaded, tmp_path / "again", 30000)
    again = load_scaffold(tmp_path / "again", iteration=30000)
    assert torch.equal(render(again, CAM, POSE, backend="torch").rgb, before.rgb)
    assert again.config.appearance_dim == 8 and again.config.n_offsets == 10


def test_loads_a_checkpoint_written_like_the_original(tmp_path):
    """PLY with the original's property order and channel-major offsets, traced nn.Sequential MLPs, cfg_args."""
    k, f, m = 10, 32, 30
    rng = np.random.default_rng(0)
    anchor, offset = rng.normal(size=(m, 3)), rng.normal(size=(m, k, 3)) * 0.1
    feat, scale = rng.normal(size=(m, f)), np.full((m, 6), -3.0)
    names = ["x", "y", "z", "nx", "ny", "nz", *[f"f_offset_{i}" for i in range(3 * k)]]
    names += [f"f_anchor_feat_{i}" for i in range(f)] + ["opacity", *[f"scale_{i}" for i in range(6)]]
    names += [f"rot_{i}" for i in range(4)]
    attrs = np.concatenate([anchor, np.zeros((m, 3)), offset.transpose(0, 2, 1).reshape(m, -1), feat,
                            np.zeros((m, 1)), scale, np.tile([1.0, 0, 0, 0], (m, 1))], axis=1)  # fmt: skip
    el = np.empty(m, dtype=[(n, "f4") for n in names])
    el[:] = list(map(tuple, attrs))
    it = tmp_path / "point_cloud" / "iteration_30000"
    it.mkdir(parents=True)
    PlyData([PlyElement.describe(el, "vertex")]).write(str(it / "point_cloud.ply"))
    torch.manual_seed(0)
    mlps = {
        "opacity_mlp.pt": nn.Sequential(nn.Linear(f + 3, f), nn.ReLU(True), nn.Linear(f, k), nn.Tanh()),
        "cov_mlp.pt": nn.Sequential(nn.Linear(f + 3, f), nn.ReLU(True), nn.Linear(f, 7 * k)),
        "color_mlp.pt": nn.Sequential(nn.Linear(f + 3 + 32, f), nn.ReLU(True), nn.Linear(f, 3 * k), nn.Sigmoid()),
    }
    for name, mlp in mlps.items():
        torch.jit.trace(mlp.eval(), torch.rand(1, mlp[0].in_features)).save(str(it / name))
    emb = nn.Embedding(5, 32)
    torch.jit.trace(emb, torch.zeros(1, dtype=torch.long)).save(str(it / "embedding_appearance.pt"))
    (tmp_path / "cfg_args").write_text(
        "Namespace(sh_degree=3, feat_dim=32, n_offsets=10, voxel_size=0.001, update_depth=3, update_init_factor=16, "
        "update_hierachy_factor=4, use_feat_bank=False, source_path='/data/7scenes/scene_chess/train', "
        "model_path='outputs/chess', images='images', resolution=-1, white_background=False, data_device='cuda', "
        "eval=False, lod=0, appearance_dim=32, lowpoly=False, ds=1, ratio=1, undistorted=False, "
        "add_opacity_dist=False, add_cov_dist=False, add_color_dist=False)"
    )
    model = load_scaffold(tmp_path)
    np.testing.assert_allclose(model.offsets.detach().numpy(), offset, atol=1e-6)  # offsets decoded right
    assert model.config.extra["source_path"] == "/data/7scenes/scene_chess/train"
    # Decoding reproduces the original formulas for one anchor seen from the origin.
    g = model.decode(torch.zeros(3))
    d = torch.tensor(anchor[0], dtype=torch.float32)
    inp = torch.cat([torch.tensor(feat[0], dtype=torch.float32), d / d.norm()])[None]
    op = mlps["opacity_mlp.pt"](inp)[0]
    keep = op > 0
    col = mlps["color_mlp.pt"](torch.cat([inp, emb(torch.zeros(1, dtype=torch.long))], dim=1)).reshape(k, 3)[keep]
    n0 = int(keep.sum())
    assert torch.allclose(g.opacities[:n0], op[keep])
    assert torch.allclose(g.colors[:n0], col, atol=1e-6)
    pos = d + torch.tensor(offset[0], dtype=torch.float32)[keep] * np.exp(-3.0)
    assert torch.allclose(g.means[:n0], pos, atol=1e-6)
    raw = mlps["cov_mlp.pt"](inp).reshape(k, 7)[keep]
    assert torch.allclose(g.scales[:n0], np.exp(-3.0) * torch.sigmoid(raw[:, :3]), atol=1e-7)


def test_frustum_culling_does_not_change_the_image():
    model = random_scaffold(400, seed=3, extent=6.0)
    pose = make_pose(np.eye(3), [0.0, 0.0, 1.0])
    mask = model.visible_anchors(torch.tensor(pose, dtype=torch.float32), torch.tensor(CAM.K, dtype=torch.float32),
                                 64, 48)  # fmt: skip
    assert 0 < mask.sum() < len(model)  # some anchors are culled
    culled = render(model, CAM, pose, backend="torch")
    model.visible_anchors = lambda *a, **k: torch.ones(len(model), dtype=torch.bool)
    full = render(model, CAM, pose, backend="torch")
    assert torch.allclose(culled.rgb, full.rgb, atol=1e-6) and torch.allclose(culled.alpha, full.alpha, atol=1e-6)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(ScaffoldFormatError, match="no iteration_<N> folder"):
        load_scaffold(tmp_path)
    save_scaffold(random_scaffold(10), tmp_path, 7)
    (tmp_path / "point_cloud" / "iteration_7" / "cov_mlp.pt").unlink()
    with pytest.raises(ScaffoldFormatError, match="cov_mlp.pt: no such file"):
        load_scaffold(tmp_path)
    (tmp_path / "cfg_args").write_text("import os; os.system('echo hi')")
    with pytest.raises(ScaffoldFormatError, match="cfg_args: cannot parse"):
        load_scaffold(tmp_path)
    other = tmp_path / "gs"
    save_scaffold(random_scaffold(10), other, 1)
    (other / "cfg_args").write_text("Namespace(appearance_dim=16)")  # color MLP was built without appearance
    with pytest.raises(ScaffoldFormatError, match="embedding_appearance.pt: no such file"):
        load_scaffold(other)


def test_config_defaults_match_the_original():
    cfg = ScaffoldConfig()
    assert (cfg.feat_dim, cfg.n_offsets, cfg.voxel_size, cfg.appearance_dim) == (32, 10, 0.001, 32)
    model = ScaffoldModel(3, ScaffoldConfig(appearance_dim=0))
    assert model.mlp_opacity[0].in_features == 35 and model.mlp_cov[2].out_features == 70


def test_cfg_args_has_every_field_of_the_original_and_evaluates_to_a_namespace(tmp_path):
    """The original's render scripts ``eval`` cfg_args and read every ModelParams field from it."""
    from argparse import Namespace

    from gscpr.splat.scaffold import CFG_ARGS_FIELDS

    save_scaffold(random_scaffold(10), tmp_path, 1)
    text = (tmp_path / "cfg_args").read_text()
    ns = eval(text, {"Namespace": Namespace})  # what the original's get_combined_args does
    assert isinstance(ns, Namespace)
    assert list(vars(ns)) == list(CFG_ARGS_FIELDS)  # all of them, in the original's order
    assert (ns.update_depth, ns.update_hierachy_factor, ns.images, ns.ratio, ns.lod) == (3, 4, "images", 1, 0)
    assert ns.appearance_dim == 0 and ns.white_background is False and ns.n_offsets == 10
    # A released file's entries survive a load and save, unknown ones too, after the original's fields.
    (tmp_path / "cfg_args").write_text(text[:-1] + ", ratio=2, my_flag='x')")
    save_scaffold(load_scaffold(tmp_path), tmp_path / "again", 1)
    again = eval((tmp_path / "again" / "cfg_args").read_text(), {"Namespace": Namespace})
    assert again.ratio == 2 and again.my_flag == "x" and list(vars(again))[-1] == "my_flag"


def test_white_background_in_cfg_args_is_the_render_background_unless_one_is_given(tmp_path):
    model = random_scaffold(40, seed=2)
    save_scaffold(model, tmp_path, 1)
    far = make_pose(np.eye(3), [0.0, 0.0, 40.0])  # the scene is a few pixels: the corners are background
    black = load_scaffold(tmp_path)
    assert black.background == (0.0, 0.0, 0.0)
    assert render(black, CAM, far, backend="torch").rgb[0, 0, 0].tolist() == [0.0, 0.0, 0.0]
    text = (tmp_path / "cfg_args").read_text()
    (tmp_path / "cfg_args").write_text(text.replace("white_background=False", "white_background=True"))
    white = load_scaffold(tmp_path)
    assert white.background == (1.0, 1.0, 1.0)
    assert render(white, CAM, far, backend="torch").rgb[0, 0, 0].tolist() == [1.0, 1.0, 1.0]
    given = render(white, CAM, far, background=(0.0, 0.5, 0.0), backend="torch").rgb[0, 0, 0].tolist()
    assert given == [0.0, 0.5, 0.0]  # the caller's background wins
