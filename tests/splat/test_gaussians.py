import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement

from gscpr.splat.gaussians import Gaussians, PlyFormatError, load_ply, save_ply


def random_gaussians(n=50, degree=3, seed=0) -> Gaussians:
    g = torch.Generator().manual_seed(seed)
    return Gaussians(
        means=torch.randn(n, 3, generator=g),
        quats=torch.randn(n, 4, generator=g),
        log_scales=torch.randn(n, 3, generator=g) - 3,
        opacity_logits=torch.randn(n, generator=g),
        sh=torch.randn(n, (degree + 1) ** 2, 3, generator=g),
    )


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_ply_round_trip_is_bit_exact(tmp_path, degree):
    g = random_gaussians(degree=degree)
    save_ply(tmp_path / "point_cloud.ply", g)
    back = load_ply(tmp_path / "point_cloud.ply")
    assert back.sh_degree == degree
    for name in ["means", "quats", "log_scales", "opacity_logits", "sh"]:
        assert torch.equal(getattr(back, name), getattr(g, name)), name


def test_reads_the_inria_layout_with_channel_major_f_rest(tmp_path):
    # Write a PLY the way the Inria code does: f_rest_i holds channel (i // 15), coefficient (i % 15) + 1.
    n = 3
    props = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    props += [f"f_rest_{i}" for i in range(45)] + ["opacity", "scale_0", "scale_1", "scale_2"]
    props += ["rot_0", "rot_1", "rot_2", "rot_3", "extra_property"]
    v = np.zeros(n, dtype=[(p, "f4") for p in props])
    for i in range(45):
        v[f"f_rest_{i}"] = 1000 * (i // 15) + (i % 15) + 1  # channel * 1000 + coefficient index
    v["f_dc_1"] = 7.0
    v["rot_0"] = 1.0
    PlyData([PlyElement.describe(v, "vertex")]).write(str(tmp_path / "inria.ply"))
    g = load_ply(tmp_path / "inria.ply")
    assert g.sh.shape == (3, 16, 3)
    assert g.sh[0, 0].tolist() == [0.0, 7.0, 0.0]
    assert g.sh[0, 5].tolist() == [5.0, 1005.0, 2005.0]  # coefficient 5 of red, green, blue


def test_ascii_ply_is_read(tmp_path):
    g = random_gaussians(n=4, degree=0)
    save_ply(tmp_path / "b.ply", g)
    ply = PlyData.read(str(tmp_path / "b.ply"))
    ply.text = True
    ply.write(str(tmp_path / "a.ply"))
    assert torch.allclose(load_ply(tmp_path / "a.ply").means, g.means)


def _write_vertices(path, props, n=2, fill=0.5):
    v = np.full(n, fill, dtype=[(p, "f4") for p in props])
    PlyData([PlyElement.describe(v, "vertex")]).write(str(path))


BASE = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2"]
BASE += ["rot_0", "rot_1", "rot_2", "rot_3"]


def test_bad_plys_name_file_and_problem(tmp_path):
    with pytest.raises(PlyFormatError, match="no such file"):
        load_ply(tmp_path / "missing.ply")
    (tmp_path / "junk.ply").write_bytes(b"not a ply at all")
    with pytest.raises(PlyFormatError, match="junk.ply: not a readable PLY"):
        load_ply(tmp_path / "junk.ply")
    _write_vertices(tmp_path / "mesh.ply", ["x", "y", "z", "red"])
    with pytest.raises(PlyFormatError, match=r"mesh.ply: missing vertex properties \['f_dc_0'"):
        load_ply(tmp_path / "mesh.ply")
    _write_vertices(tmp_path / "rest.ply", BASE + [f"f_rest_{i}" for i in range(10)])
    with pytest.raises(PlyFormatError, match="10 f_rest properties"):
        load_ply(tmp_path / "rest.ply")
    _write_vertices(tmp_path / "nan.ply", BASE, fill=np.nan)
    with pytest.raises(PlyFormatError, match="nan.ply: 2 Gaussian\\(s\\) have a non-finite position"):
        load_ply(tmp_path / "nan.ply")
    _write_vertices(tmp_path / "zero.ply", BASE, fill=0.0)
    with pytest.raises(PlyFormatError, match="zero quaternion"):
        load_ply(tmp_path / "zero.ply")


def test_from_points_gives_the_point_colour_from_every_direction():
    from gscpr.splat.sh import sh_to_color

    rgb = np.array([[0.1, 0.5, 0.9]])
    g = Gaussians.from_points(np.zeros((1, 3)), rgb, scale=0.01, opacity=0.3)
    assert g.opacities.item() == pytest.approx(0.3)
    assert g.scales[0].tolist() == pytest.approx([0.01] * 3)
    for d in ([1.0, 0, 0], [0, -1.0, 0.3]):
        c = sh_to_color(3, torch.tensor([d]), g.sh)
        assert c[0].tolist() == pytest.approx(rgb[0].tolist(), abs=1e-6)


def test_subset_and_sh_degree_change():
    g = random_gaussians(n=10, degree=1)
    assert len(g.subset(g.opacity_logits > 0)) == int((g.opacity_logits > 0).sum())
    g3 = g.with_sh_degree(3)
    assert g3.sh.shape == (10, 16, 3) and torch.equal(g3.sh[:, :4], g.sh) and (g3.sh[:, 4:] == 0).all()
    with pytest.raises(ValueError, match="sh must have shape"):
        Gaussians(g.means, g.quats, g.log_scales, g.opacity_logits, torch.zeros(10, 5, 3))
