"""PLY properties read by their meaning (half, double, integer types), Mip-Splatting's 3D filter applied at load
time, and what a PLY holds beyond the rendered properties said once."""

import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement

from gscpr.splat import PlyFormatError, load_ply, render, save_ply
from gscpr.splat.ply import apply_3d_filter

from .test_formats import CAM, POSES, model


def vertex_table(path) -> np.ndarray:
    return np.asarray(PlyData.read(str(path))["vertex"].data)


def write_with_types(path, table: np.ndarray, types: dict[str, str], fmt: str = "binary_little_endian") -> None:
    """``table`` written by hand with each property's PLY type (``half`` too, which plyfile cannot write)."""
    names = table.dtype.names
    ply_to_np = {"half": "f2", "float": "f4", "double": "f8", "uchar": "u1", "short": "i2", "int": "i4"}
    order = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "<"}[fmt]
    dtype = np.dtype([(n, order + ply_to_np[types.get(n, "float")]) for n in names])
    out = np.empty(len(table), dtype)
    for n in names:
        out[n] = table[n]
    header = f"ply\nformat {fmt} 1.0\nelement vertex {len(table)}\n"
    header += "".join(f"property {types.get(n, 'float')} {n}\n" for n in names) + "end_header\n"
    if fmt == "ascii":
        body = "".join(" ".join(repr(float(out[n][i])) for n in names) + "\n" for i in range(len(out))).encode()
    else:
        body = out.tobytes()
    path.write_bytes(header.encode() + body)


@pytest.mark.parametrize("fmt", ["binary_little_endian", "binary_big_endian", "ascii"])
def test_half_float_properties_are_read_as_numbers(tmp_path, fmt):
    g = model(n=40, degree=1)
    save_ply(tmp_path / "f32.ply", g)
    table = vertex_table(tmp_path / "f32.ply")
    write_with_types(tmp_path / "f16.ply", table, dict.fromkeys(table.dtype.names, "half"), fmt)
    got, want = load_ply(tmp_path / "f16.ply"), load_ply(tmp_path / "f32.ply")
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        a, b = getattr(got, name), getattr(want, name)
        # a half keeps 11 significant bits: relative error 2^-11
        assert torch.allclose(a, b, rtol=2**-11, atol=1e-6), name
        assert not torch.equal(a, b) or fmt == "ascii" or name == "quats"


def test_double_and_mixed_float_properties(tmp_path):
    g = model(n=30, degree=2)
    save_ply(tmp_path / "f32.ply", g)
    table = vertex_table(tmp_path / "f32.ply")
    types = {n: ("double" if i % 2 else "half" if i % 3 == 0 else "float") for i, n in enumerate(table.dtype.names)}
    write_with_types(tmp_path / "mixed.ply", table, types)
    got, want = load_ply(tmp_path / "mixed.ply"), load_ply(tmp_path / "f32.ply")
    assert torch.allclose(got.sh, want.sh, rtol=2**-11, atol=1e-6)
    doubles = [n for n, t in types.items() if t == "double"]
    assert "y" in doubles and torch.equal(got.means[:, 1], want.means[:, 1])  # double -> float32: exact


@pytest.mark.parametrize("prop, ply_type", [("opacity", "uchar"), ("scale_1", "short"), ("x", "int")])
def test_integer_properties_are_refused_naming_them(tmp_path, prop, ply_type):
    save_ply(tmp_path / "f32.ply", model(n=5, degree=0))
    table = vertex_table(tmp_path / "f32.ply")
    table[prop] = 1.0
    write_with_types(tmp_path / "ints.ply", table, {prop: ply_type})
    with pytest.raises(PlyFormatError, match=rf"ints\.ply: vertex properties {prop} \({ply_type}\) are not stored "):
        load_ply(tmp_path / "ints.ply")


def mip_ply(tmp_path, filter_3d: np.ndarray):
    """A Mip-Splatting PLY: the standard properties and ``filter_3D``."""
    g = model(n=300, degree=1, seed=3)
    save_ply(tmp_path / "plain.ply", g)
    table = vertex_table(tmp_path / "plain.ply")
    out = np.empty(len(table), [*table.dtype.descr, ("filter_3D", "<f4")])
    for n in table.dtype.names:
        out[n] = table[n]
    out["filter_3D"] = filter_3d
    PlyData([PlyElement.describe(out, "vertex")]).write(str(tmp_path / "mip.ply"))
    return load_ply(tmp_path / "plain.ply")


def test_mip_splatting_3d_filter_is_applied_as_its_renderer_does(tmp_path):
    rng = np.random.default_rng(0)
    filt = rng.uniform(0.02, 0.08, 300).astype(np.float32)
    filt[:10] = 0.0
    plain = mip_ply(tmp_path, filt)
    said = []
    mip = load_ply(tmp_path / "mip.ply", warn=said.append)
    assert said == []  # filter_3D is understood, not reported
    # Mip-Splatting's get_scaling_with_3D_filter / get_opacity_with_3D_filter, in torch
    f = torch.from_numpy(filt).double()[:, None]
    s2 = plain.scales.double() ** 2
    want_scales = torch.sqrt(s2 + f**2)
    want_opacity = plain.opacities.double() * torch.sqrt(s2.prod(1) / (s2 + f**2).prod(1))
    assert torch.allclose(mip.scales.double(), want_scales, rtol=1e-5)
    assert torch.allclose(mip.opacities.double(), want_opacity, rtol=1e-5, atol=1e-7)
    assert torch.equal(mip.log_scales[:10], plain.log_scales[:10])  # no filter: bit-exact
    assert torch.equal(mip.opacity_logits[:10], plain.opacity_logits[:10])
    assert (mip.opacities[10:] < plain.opacities[10:]).all() and (mip.scales[10:] > plain.scales[10:]).all()
    # rendered: the filtered Gaussians, not the raw ones
    filtered = render(mip, CAM, POSES, backend="torch").rgb
    ignored = render(plain, CAM, POSES, backend="torch").rgb
    by_formula = plain.to()
    by_formula.log_scales = torch.log(want_scales).float()
    by_formula.opacity_logits = torch.logit(want_opacity).float()
    assert (filtered - ignored).abs().mean() > 0.01
    assert (filtered - render(by_formula, CAM, POSES, backend="torch").rgb).abs().max() < 1e-4


def test_apply_3d_filter_keeps_saturated_opacities_finite():
    log_scales = np.log(np.array([[1e-9, 1e-9, 1e-9], [0.1, 0.1, 0.1]], np.float32))
    scales, logits = apply_3d_filter(log_scales, np.array([60.0, 60.0], np.float32), np.array([0.5, 0.0]))
    assert np.isfinite(scales).all() and np.isfinite(logits).all() and logits[1] == 60.0
    assert scales[0] == pytest.approx(np.log([0.5] * 3), abs=1e-6)


def test_what_is_not_rendered_is_said_once_naming_it(tmp_path):
    save_ply(tmp_path / "f32.ply", model(n=4, degree=0))
    table = vertex_table(tmp_path / "f32.ply")
    out = np.empty(len(table), [*table.dtype.descr, ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for n in table.dtype.names:
        out[n] = table[n]
    faces = np.array([([0, 1, 2],)], dtype=[("vertex_indices", "i4", (3,))])
    PlyData([PlyElement.describe(out, "vertex"), PlyElement.describe(faces, "face")]).write(str(tmp_path / "x.ply"))
    said = []
    g = load_ply(tmp_path / "x.ply", warn=said.append)
    assert len(g) == 4 and len(said) == 1
    assert "x.ply: ignored" in said[0] and "blue, green, red, face (element)" in said[0]
    said.clear()
    load_ply(tmp_path / "f32.ply", warn=said.append)  # normals and the rest: nothing to say
    assert said == []


@pytest.mark.parametrize(
    "body, message",
    [
        (None, "no Gaussians in the file"),
        (b"truncate", "truncated"),
        (b"not a ply", "not a readable PLY file"),
    ],
)
def test_empty_truncated_and_non_ply_files_are_refused(tmp_path, body, message):
    path = tmp_path / "bad.ply"
    if body is None:
        save_ply(path, model(n=3).subset(torch.zeros(3, dtype=torch.bool)))
    elif body == b"truncate":
        save_ply(path, model(n=30))
        path.write_bytes(path.read_bytes()[:-50])
    else:
        path.write_bytes(body)
    with pytest.raises(PlyFormatError, match=rf"bad\.ply: {message}"):
        load_ply(path)
