"""The mast3r matcher against the real mast3r code (../shared/third_party/mast3r) with a random-weight checkpoint
of a small configuration generated at test time (tests/conftest.py): loading by path and by name from a local
Hugging Face cache, the messages for what is missing, the original's resize and keypoint mapping, the
nearest neighbours against mast3r's own, bf16 autocast and the pairwise pointmaps."""

import sys

import numpy as np
import pytest
import torch

from gscpr.match import MatchError, load_matcher
from gscpr.match.mast3r import (
    DEFAULT_CHECKPOINT,
    TINY_ARCHITECTURE,
    check_dependencies,
    map_keypoints,
    mast3r_input,
    reciprocal_nn,
    reciprocal_nn_mast3r,
    resolve_checkpoint,
)


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture ``[h, w, 3]`` uint8."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def small_matcher(tiny_mast3r):
    return load_matcher("mast3r", "cpu", checkpoint=str(tiny_mast3r), max_size=128)


def test_matcher_loads_a_released_format_checkpoint_and_matches_a_pair(small_matcher):
    img = textured(120, 160)
    m = small_matcher.match(img, np.roll(img, 4, axis=1))
    assert len(m) > 0 and m.kpts0.shape == m.kpts1.shape == (len(m), 2)
    # keypoints in each image's own full resolution, inside the 3-px border of the 128x96 working image
    for k in (m.kpts0, m.kpts1):
        assert k[:, 0].min() >= 0 and k[:, 0].max() < 160 and k[:, 1].min() >= 0 and k[:, 1].max() < 120
    assert set(small_matcher.last_timings) == {"network", "nn"} and all(
        v > 0 for v in small_matcher.last_timings.values()
    )
    assert m.pairwise is None


def test_size_options_are_checked_in_one_line(tiny_mast3r):
    with pytest.raises(MatchError, match="multiple of 16 from 64 to 512, got 100"):
        load_matcher("mast3r", "cpu", checkpoint=str(tiny_mast3r), max_size=100)
    with pytest.raises(MatchError, match="correspondences=False leaves nothing"):
        load_matcher("mast3r", "cpu", checkpoint=str(tiny_mast3r), correspondences=False)
    with pytest.raises(MatchError, match="resize must be one of torch, pil"):
        load_matcher("mast3r", "cpu", checkpoint=str(tiny_mast3r), resize="cv2")


def test_pil_resize_is_dust3rs_load_images(mast3r_code, tmp_path):
    """The ``pil`` input is bit-identical to DUSt3R's ``load_images(size=512)``, shrinking (LANCZOS) and
    enlarging (BICUBIC); a 12-Scenes-shaped image is cropped as it crops."""
    import cv2

    pytest.importorskip("torchvision", reason="dust3r's load_images imports torchvision (not a gscpr dependency)")
    from dust3r.utils.image import load_images

    for w, h in ((640, 480), (324, 242)):
        img = textured(h, w, seed=w)
        cv2.imwrite(str(tmp_path / f"{w}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        (ref,) = load_images([str(tmp_path / f"{w}.png")], size=512, verbose=False)
        ours, _ = mast3r_input(torch.from_numpy(img).permute(2, 0, 1).float() / 255, 512, "pil")
        assert ours.shape == ref["img"].shape and list(ours.shape[-2:]) == ref["true_shape"][0].tolist()
        assert (ours - ref["img"]).abs().max() < 1e-6
        torch_resized, _ = mast3r_input(torch.from_numpy(img).permute(2, 0, 1).float() / 255, 512, "torch")
        assert (torch_resized - ref["img"]).abs().max() > 1e-3  # the option changes something


def test_original_keypoint_mapping_is_the_scripts_truncating_arithmetic():
    p = np.array([[511.0, 383.0], [10.0, 10.0]])
    g = (512, 384, 0, 0, 640, 480)  # 7-Scenes: resized 512x384, no crop
    np.testing.assert_array_equal(map_keypoints(p, g, (512, 384), "original"), [[638, 478], [12, 12]])  # x * 1.25
    np.testing.assert_allclose(map_keypoints(p, g, (512, 384)), [[638.875, 478.875], [12.625, 12.625]])
    g12 = (512, 382, 0, 7, 1296, 968)  # 12-Scenes: 382 rows cropped to 368, 7 off the top
    s = 1296 / 512  # gs_cpr_12s.py: x * s; (y + int((968 / s - 368) / 2)) * s, truncated
    np.testing.assert_array_equal(map_keypoints(p, g12, (512, 368), "original")[1], [int(10 * s), int(17 * s)])
    assert abs(map_keypoints(p, g12, (512, 368))[1, 1] - ((17 + 0.5) * 968 / 382 - 0.5)) < 1e-9  # 43.8: sub-pixel
    gcam = (512, 288, 0, 0, 1920, 1080)  # Cambridge: gs_cpr_cam.py's x * W / w, y * H / h
    np.testing.assert_array_equal(map_keypoints(p, gcam, (512, 288), "original")[1], [37, 37])


def test_reciprocal_nn_returns_mast3rs_pairs(mast3r_code):
    torch.manual_seed(0)
    for H, W in ((40, 48), (37, 61)):
        desc1 = torch.nn.functional.normalize(torch.randn(H, W, 24), dim=-1)
        desc0 = torch.nn.functional.normalize(desc1.roll((3, 5), (0, 1)) + 0.4 * torch.randn(H, W, 24), dim=-1)
        ours, theirs = reciprocal_nn(desc0, desc1), reciprocal_nn_mast3r(desc0, desc1)
        assert len(ours[0]) > 10
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])


def test_bf16_autocast_runs_on_the_cpu(small_matcher, monkeypatch):
    monkeypatch.setattr(small_matcher, "amp", True)
    img = textured(120, 160, seed=3)
    matches = small_matcher.match(img, np.roll(img, 4, axis=0))
    assert len(matches) > 0 and matches.kpts0.dtype == np.float64


def test_tf32_is_scoped_to_the_network(small_matcher, monkeypatch):
    monkeypatch.setattr(small_matcher, "tf32", True)
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    img = textured(120, 160, seed=3)
    assert len(small_matcher.match(img, np.roll(img, 4, axis=0))) > 0
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before  # restored


def test_pairwise_outputs_for_gs_cpr_rel(small_matcher, monkeypatch):
    monkeypatch.setattr(small_matcher, "pairwise", True)
    pair = small_matcher.match(textured(96, 128, seed=1), textured(96, 128, seed=2)).pairwise
    assert pair.resized == ((128, 96), (128, 96)) and pair.crop == ((0, 0), (0, 0))
    for i in (0, 1):
        assert pair.pts_self[i].shape == pair.pts_other[i].shape == (96, 128, 3)
        assert pair.conf_self[i].shape == pair.conf_other[i].shape == (96, 128)
        assert (pair.conf_self[i] >= 1).all()  # MASt3R's confidences are 1 + exp(.)
    monkeypatch.setattr(small_matcher, "correspondences", False)  # GS-CPR_rel as published: no matches needed
    only = small_matcher.match(textured(96, 128, seed=1), textured(96, 128, seed=2))
    assert len(only) == 0 and only.pairwise is not None and small_matcher.last_timings["nn"] == 0.0


def write_hf_snapshot(cache, repo: str, checkpoint) -> None:
    """A Hugging Face hub cache holding ``repo`` as ``huggingface-cli download`` leaves it (snapshots/<commit>/,
    refs/main naming the commit), the snapshot written as the released repositories were: by the hub mixin's
    ``save_pretrained`` of the network built from its constructor string (config.json from the constructor's
    arguments; model.safetensors without the tensors that alias others)."""
    import mast3r.model

    ckpt = torch.load(checkpoint, weights_only=False)
    net = eval(ckpt["args"].model, vars(mast3r.model))  # the released constructor, ManyAR_PatchEmbed and all
    net.load_state_dict(ckpt["model"])
    commit = "0123456789abcdef0123456789abcdef01234567"
    base = cache / f"models--{repo.replace('/', '--')}"
    snap = base / "snapshots" / commit
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    net.save_pretrained(snap)


def test_checkpoint_by_name_from_the_local_hf_cache(tiny_mast3r, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    cache = tmp_path / "hf" / "hub"
    write_hf_snapshot(cache, DEFAULT_CHECKPOINT, tiny_mast3r)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    snapshot = resolve_checkpoint(DEFAULT_CHECKPOINT)
    assert snapshot.parents[1] == cache / ("models--" + DEFAULT_CHECKPOINT.replace("/", "--"))
    released = torch.load(tiny_mast3r, weights_only=False)["model"]
    aliases = set(released) - set(load_file(snapshot / "model.safetensors"))
    assert len(aliases) == 8 and all(".dpt.scratch.layer_rn." in k for k in aliases)  # as save_pretrained writes
    m = load_matcher("mast3r", "cpu", max_size=128)  # the default checkpoint is the original's model name
    loaded = m.model.state_dict()
    assert set(loaded) == set(released) and all(torch.equal(loaded[k], released[k]) for k in released)
    assert type(m.model.patch_embed).__name__ == "ManyAR_PatchEmbed"  # built from config.json, as from_pretrained


def write_pth(path, model: dict, args) -> str:
    import argparse

    ckpt = {"model": model} if args is None else {"model": model, "args": argparse.Namespace(model=args)}
    torch.save(ckpt, path)
    return str(path)


def test_a_pth_without_the_aliases_loads(tiny_mast3r, tmp_path):
    ckpt = torch.load(tiny_mast3r, weights_only=False)
    state = {k: v for k, v in ckpt["model"].items() if ".dpt.scratch.layer_rn." not in k}
    assert len(state) == len(ckpt["model"]) - 8
    m = load_matcher("mast3r", "cpu", checkpoint=write_pth(tmp_path / "a.pth", state, ckpt["args"].model))
    loaded = m.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in ckpt["model"].items())  # the aliases share the loaded tensors


def test_a_pth_with_missing_or_foreign_tensors_is_refused_in_one_line(tiny_mast3r, tmp_path):
    ckpt = torch.load(tiny_mast3r, weights_only=False)
    keys = sorted(k for k in ckpt["model"] if ".dpt.scratch.layer_rn." not in k)
    half = {k: ckpt["model"][k] for k in keys[::2]}
    path = write_pth(tmp_path / "half.pth", half, ckpt["args"].model)
    with pytest.raises(MatchError) as e:
        load_matcher("mast3r", "cpu", checkpoint=path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ")
    import re

    count, named = re.search(r"lacks (\d+) of the network's \d+ tensors \((.*), \.\.\.\)", msg).groups()
    assert int(count) >= len(keys) - len(half)  # (with the aliases of what is missing)
    assert all(k in ckpt["model"] and k not in half for k in named.split(", "))  # names a few missing tensors
    foreign = dict(ckpt["model"], extra_head=torch.zeros(3))
    path = write_pth(tmp_path / "foreign.pth", foreign, ckpt["args"].model)
    with pytest.raises(MatchError, match=rf"^{path}: .*has 1 tensors the network does not \(extra_head\)"):
        load_matcher("mast3r", "cpu", checkpoint=path)


def test_a_pth_that_is_not_a_mast3r_checkpoint_says_why(tiny_mast3r, tmp_path):
    state = torch.load(tiny_mast3r, weights_only=False)["model"]
    path = write_pth(tmp_path / "noargs.pth", state, None)
    with pytest.raises(MatchError, match=rf"^{path}: not a MASt3R checkpoint \(no 'args' entry: "):
        load_matcher("mast3r", "cpu", checkpoint=path)
    bad = TINY_ARCHITECTURE.replace("img_size=(512, 512)", "img_size=(500, 500)")  # mast3r asserts, saying nothing
    path = write_pth(tmp_path / "badargs.pth", state, bad)
    with pytest.raises(MatchError) as e:
        load_matcher("mast3r", "cpu", checkpoint=path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}: args.model does not build a MASt3R network (AssertionError")
    assert "img_size=(500, 500)" in msg


def test_missing_checkpoint_says_what_and_how_in_one_line(mast3r_code, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(MatchError) as e:
        load_matcher("mast3r", "cpu")
    msg = str(e.value)
    assert "\n" not in msg and DEFAULT_CHECKPOINT in msg and str(tmp_path / "empty") in msg
    assert f"huggingface-cli download {DEFAULT_CHECKPOINT}" in msg and ".pth" in msg
    with pytest.raises(MatchError, match=r"MASt3R checkpoint checkpoints/model\.pth: no such file"):
        load_matcher("mast3r", "cpu", checkpoint="checkpoints/model.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(MatchError, match=f"cannot load the MASt3R checkpoint {bad}"):
        load_matcher("mast3r", "cpu", checkpoint=str(bad))


@pytest.mark.parametrize("module", ["einops", "huggingface_hub", "packaging", "scipy"])
def test_a_missing_dependency_is_named_at_load(module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MatchError, match=rf"needs the Python package\(s\) {module}: pip install 'gscpr\[mast3r\]'"):
        check_dependencies()


def test_missing_mast3r_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mast3r", None)
    with pytest.raises(MatchError, match="git clone --recursive https://github.com/naver/mast3r .*PYTHONPATH"):
        load_matcher("mast3r", "cpu")


def test_random_checkpoint_is_in_the_released_format(tiny_mast3r, mast3r_code):
    """``write_random_checkpoint`` (the fixture's) writes ``{'model': state_dict, 'args': .model = the constructor
    string}``; the released ViT-L string is the one third_party/SOURCE.md documents."""
    import re

    from gscpr.match.mast3r import RELEASED_ARCHITECTURE, TINY_ARCHITECTURE

    ckpt = torch.load(tiny_mast3r, map_location="cpu", weights_only=False)
    assert ckpt["args"].model == TINY_ARCHITECTURE and len(ckpt["model"]) > 100
    assert all(isinstance(v, torch.Tensor) for v in ckpt["model"].values())
    source = mast3r_code.parent / "SOURCE.md"
    if not source.is_file():
        pytest.skip(f"{source} is not available")
    assert RELEASED_ARCHITECTURE in re.sub(r"\s*\n\s*", " ", source.read_text())
    assert RELEASED_ARCHITECTURE != TINY_ARCHITECTURE and "enc_embed_dim=1024" in RELEASED_ARCHITECTURE


@pytest.mark.parametrize("amp", [False, True])
def test_capture_safe_network_gives_the_same_outputs_bit_for_bit(tiny_mast3r, amp):
    """The CUDA-graph-safe paths (fixed-length RoPE table, plain patch embedding for landscape batches) compute
    exactly what DUSt3R's own modules compute, for a single edge and for the symmetric pair batch."""
    from gscpr.match.mast3r import load_mast3r_model, make_capture_safe

    torch.manual_seed(0)
    img = torch.rand(2, 3, 96, 128) * 2 - 1
    views = []
    for im, names in ((img, ["0", "1"]), (img.flip(0), ["1", "0"])):
        views.append({"img": im, "true_shape": torch.tensor([[96, 128]] * 2), "instance": names})
    outputs = []
    for patched in (False, True):
        net = load_mast3r_model(tiny_mast3r)
        if patched:
            make_capture_safe(net, max_positions=9)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            outputs.append([net(*views), net(*({k: v[:1] for k, v in w.items()} for w in views))])
    for (ref1, ref2), (got1, got2) in zip(*outputs, strict=True):
        for ref, got in ((ref1, got1), (ref2, got2)):
            assert ref.keys() == got.keys() and {"desc", "conf"} <= set(ref)
            for k in ref:
                assert ref[k].dtype == got[k].dtype and torch.equal(ref[k], got[k]), k


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
@pytest.mark.parametrize("pairwise", [False, True])
def test_cuda_graph_replay_finds_the_same_matches_as_eager(tiny_mast3r, pairwise):
    """The network replayed from a CUDA graph gives the eager network's matches and pointmaps exactly, on every
    replay (the graph's static buffers are copied out, not aliased)."""
    found = {}
    for graphs in (False, True):
        m = load_matcher("mast3r", "cuda", checkpoint=str(tiny_mast3r), max_size=128, cuda_graphs=graphs,
                         pairwise=pairwise)  # fmt: skip
        found[graphs] = [m.match(textured(96, 128, s), textured(96, 128, s + 1)) for s in range(3)]
    for a, b in zip(found[False], found[True], strict=True):
        assert np.array_equal(a.kpts0, b.kpts0) and np.array_equal(a.kpts1, b.kpts1)
        if pairwise:
            assert all(np.array_equal(x, y) for x, y in zip(a.pairwise.pts_self, b.pairwise.pts_self, strict=True))
