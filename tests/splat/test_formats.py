"""Every splat file format loads to the Gaussians of the standard PLY it was converted from, within the format's
quantisation, and renders the same: a model saved with ``save_ply`` is converted by the spec-written writers of
``scene_writers`` and read back through ``load_gaussians`` (the one reader every command uses)."""

import gzip
import struct

import numpy as np
import pytest
import torch

from gscpr.camera import Camera
from gscpr.geometry import make_pose
from gscpr.splat import Gaussians, PlyFormatError, render, save_ply
from gscpr.splat.model import load_gaussians
from gscpr.splat.sh import rgb_to_sh

from .scene_writers import spz_streams, write_compressed_ply, write_splat, write_spz

CAM = Camera.centered(64, 48, 50.0)
POSES = np.stack([make_pose(np.eye(3), [0.0, 0.0, 3.0]), make_pose(np.eye(3), [0.3, -0.2, 2.5])])


def model(n: int = 600, degree: int = 3, seed: int = 0) -> Gaussians:
    """Anisotropic, rotated Gaussians in front of the cameras (600: two full 256-chunks and a partial one)."""
    rng = np.random.default_rng(seed)
    sh = np.zeros((n, (degree + 1) ** 2, 3))
    sh[:, 1:] = rng.normal(0.0, 0.15, size=(n, sh.shape[1] - 1, 3))
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    sh = t(sh)
    sh[:, 0] = rgb_to_sh(t(rng.uniform(0.05, 0.95, size=(n, 3))))
    return Gaussians(
        means=t(rng.uniform(-1, 1, size=(n, 3))),
        quats=t(rng.normal(size=(n, 4))),
        log_scales=t(np.log(rng.uniform(0.01, 0.15, size=(n, 3)))),
        opacity_logits=t(rng.normal(0.0, 1.5, size=n)),
        sh=sh,
    )


def assert_close(got: Gaussians, want: Gaussians, means, log_scales, quat_deg, opacity, dc, rest) -> None:
    """Each parameter within its quantisation step: positions and log scales (absolute), rotations (angle in
    degrees, sign-free), activated opacities, SH DC and higher coefficients (absolute)."""
    assert len(got) == len(want) and got.sh_degree == want.sh_degree
    np.testing.assert_allclose(got.means, want.means, atol=means, rtol=0)
    np.testing.assert_allclose(got.log_scales, want.log_scales, atol=log_scales, rtol=0)
    qa = torch.nn.functional.normalize(got.quats.double(), dim=1)
    qb = torch.nn.functional.normalize(want.quats.double(), dim=1)
    angle = torch.rad2deg(2 * torch.acos((qa * qb).sum(1).abs().clamp(max=1.0)))
    assert angle.max() < quat_deg, float(angle.max())
    np.testing.assert_allclose(got.opacities, want.opacities, atol=opacity, rtol=0)
    np.testing.assert_allclose(got.sh[:, 0], want.sh[:, 0], atol=dc, rtol=0)
    np.testing.assert_allclose(got.sh[:, 1:], want.sh[:, 1:], atol=rest, rtol=0)


def assert_renders_alike(got: Gaussians, want: Gaussians, mean_tol: float = 0.004) -> None:
    a = render(got, CAM, POSES, backend="torch")
    b = render(want, CAM, POSES, backend="torch")
    assert (b.alpha > 0.5).float().mean() > 0.3  # the views see the scene
    assert (a.rgb - b.rgb).abs().mean() < mean_tol
    assert (a.alpha - b.alpha).abs().mean() < mean_tol


def reference(tmp_path, g: Gaussians) -> Gaussians:
    save_ply(tmp_path / "scene.ply", g)
    return load_gaussians(tmp_path / "scene.ply")


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_compressed_ply_loads_like_the_standard_ply(tmp_path, degree):
    want = reference(tmp_path, model(degree=degree))
    write_compressed_ply(tmp_path / "scene.compressed.ply", want)
    got = load_gaussians(tmp_path / "scene.compressed.ply")
    # steps: positions 2/1023 per chunk, log scales ~2.7/1023, rotations 10 bits, colours and opacity 8 bits, SH
    # 8 bits over [-4, 4]
    assert_close(got, want, means=1.1e-3, log_scales=1.5e-3, quat_deg=0.2, opacity=2e-3, dc=6.5e-3, rest=0.032)
    if degree == 3:
        assert_renders_alike(got, want)


def test_compressed_ply_without_chunk_colours(tmp_path):
    want = reference(tmp_path, model(degree=1))
    write_compressed_ply(tmp_path / "old.compressed.ply", want, chunk_colors=False)
    got = load_gaussians(tmp_path / "old.compressed.ply")
    assert_close(got, want, means=1.1e-3, log_scales=1.5e-3, quat_deg=0.2, opacity=2e-3, dc=7.1e-3, rest=0.032)


def test_splat_loads_like_the_standard_ply_at_sh_degree_0(tmp_path):
    g = reference(tmp_path, model(degree=3))
    write_splat(tmp_path / "scene.splat", g)
    got = load_gaussians(tmp_path / "scene.splat")
    want = g.with_sh_degree(0)  # the format has colours only
    # positions and scales are float32 (scales linear: log is exact to rounding); colours truncated to 8 bits
    assert_close(got, want, means=0, log_scales=1e-6, quat_deg=2.0, opacity=1 / 255, dc=1 / 255 / 0.2820, rest=0)
    assert_renders_alike(got, want)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_spz_loads_like_the_standard_ply(tmp_path, version, degree):
    want = reference(tmp_path, model(degree=degree))
    write_spz(tmp_path / "scene.spz", want, version=version)
    got = load_gaussians(tmp_path / "scene.spz")
    # steps: positions 2^-12, log scales 1/16, colours 1/255/0.15, alphas 1/255, rotations 9 bits of 1/sqrt 2
    # (version 2: 8 bits of x y z, w implied), SH degree 1 in 5 bits, above in 4 bits of [-1, 1]
    quat_deg = 0.3 if version >= 3 else 12.0  # version 2: w = sqrt(1 - |xyz|^2) is coarse near 0
    means = 2**-11 if version == 1 else 1.3e-4  # version 1: float16 positions (|x| <= 1 here)
    assert_close(got, want, means=means, log_scales=1 / 32 + 1e-6, quat_deg=quat_deg, opacity=2e-3,
                 dc=0.5 / 255 / 0.15 + 1e-5, rest=8.5 / 128)  # fmt: skip
    if version == 4 and degree == 3:
        assert_renders_alike(got, want, mean_tol=0.01)


def test_spz_flags_and_degree_4_are_said(tmp_path):
    g = reference(tmp_path, model(n=10, degree=0))
    write_spz(tmp_path / "aa.spz", g, version=3, flags=1)
    said = []
    load_gaussians(tmp_path / "aa.spz", warn=said.append)
    assert len(said) == 1 and "aa.spz: trained with antialiasing" in said[0]
    # SH degree 4 (24 coefficients, coefficient-major): the first 15 are degrees 1-3, kept; the rest cut, said
    _, streams = spz_streams(g, 3)
    sh = np.random.default_rng(0).integers(0, 256, size=(10, 24, 3), dtype=np.uint8)
    header = struct.pack("<4sIIBBBB", b"NGSP", 3, 10, 4, 12, 0, 0)
    (tmp_path / "d4.spz").write_bytes(gzip.compress(header + b"".join(streams) + sh.tobytes()))
    said.clear()
    got = load_gaussians(tmp_path / "d4.spz", warn=said.append)
    assert got.sh_degree == 3 and len(said) == 1 and "d4.spz: SH degree 4 cut to degree 3" in said[0]
    assert torch.equal(got.sh[:, 1:], torch.from_numpy((sh[:, :15] - 128.0) / 128.0).float())


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.splat", b"", "empty.splat: no Gaussians in the file"),
        ("short.splat", b"\0" * 40, "short.splat: not a .splat file (its 40 bytes"),
        ("junk.spz", b"\x1f\x8b\x08\0garbage", "junk.spz: truncated or corrupt .spz"),
        ("nomagic.spz", b"JUNKJUNKJUNKJUNKJUNK", "nomagic.spz: not a .spz file"),
        ("scene.bin", b"\0" * 64, "scene.bin: not a scene model file gscpr reads"),
    ],
)
def test_bad_files_are_refused_naming_the_file(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(PlyFormatError, match=message.replace("(", r"\(")):
        load_gaussians(tmp_path / name)


def test_truncated_spz_is_refused(tmp_path):
    g = reference(tmp_path, model(n=20, degree=1))
    for version in (3, 4):
        write_spz(tmp_path / "s.spz", g, version=version)
        data = (tmp_path / "s.spz").read_bytes()
        (tmp_path / "s.spz").write_bytes(data[: len(data) // 2])
        with pytest.raises(PlyFormatError, match=r"s\.spz: truncated"):
            load_gaussians(tmp_path / "s.spz")
