import pytest
import torch

from gscpr.splat.act import ACTModule, apply_act, load_act_checkpoint, luminance_histogram, tcnn_layers


def test_histogram_in_rounded_percent():
    img = torch.zeros(10, 10, 3)
    img[:3] = 1.0  # 30 % white (bin 9), 70 % black (bin 0)
    img[3:4, :, 1] = 0.5  # 10 % of luma 0.2935 (bin 2)
    hist = luminance_histogram(img)
    assert hist.tolist() == [60.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 30.0]
    assert luminance_histogram((img * 255).to(torch.uint8)).tolist() == hist.tolist()


def test_affine_transform_per_pixel_and_the_legacy_layout():
    rgb = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3) / 20  # H=2, W=3
    A = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.0, -1.0]])
    b = torch.tensor([0.1, -0.2, 0.3])
    params = torch.cat([A.reshape(-1), b])
    out = apply_act(rgb, params)
    px = rgb[1, 2]
    assert torch.allclose(out[1, 2], torch.sigmoid(A @ px + b))
    legacy = apply_act(rgb, params, legacy_layout=True)
    # Legacy: the channel-first image read three values at a time: first triple = red of pixels 0, 1, 2.
    chw = rgb.permute(2, 0, 1)
    first = chw.reshape(-1)[:3]
    assert torch.allclose(legacy.permute(2, 0, 1).reshape(-1)[:3], torch.sigmoid(A @ first + b))
    assert not torch.allclose(legacy, out)
    with pytest.raises(ValueError, match="12 values"):
        apply_act(rgb, torch.zeros(9))


def pack_like_tcnn(module: ACTModule) -> torch.Tensor:
    """Flat half-precision parameters as tiny-cuda-nn stores them: row-major layers, output padded to 16."""
    parts = [layer.weight.detach() for layer in module.layers]
    out = torch.zeros(16, 32)
    out[:12] = parts[-1]
    parts[-1] = out
    return torch.cat([p.reshape(-1) for p in parts]).half()


def test_checkpoint_conversion_reproduces_the_network(tmp_path):
    torch.manual_seed(0)
    ref = ACTModule()
    for layer in ref.layers:
        torch.nn.init.normal_(layer.weight, std=0.2)
    params = pack_like_tcnn(ref)
    assert params.numel() == 32 * 16 + 32 * 32 * 2 + 16 * 32
    torch.save(
        {"global_step": 30000, "network_fn_state_dict": {"exposure_embedding.params": params}}, tmp_path / "030000.tar"
    )
    act = load_act_checkpoint(tmp_path / "030000.tar")
    hist = torch.tensor([[60.0, 0, 10, 0, 0, 0, 0, 0, 0, 30], [10.0] * 10])
    with torch.no_grad():
        expected = ref(hist)
        got = act(hist)
    assert got.shape == (2, 12)
    assert torch.allclose(got, expected, rtol=2e-2, atol=2e-2)  # fp16 weights
    transform = act.transform_for(torch.rand(8, 8, 3))
    assert transform(torch.rand(4, 5, 3)).shape == (4, 5, 3)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_act_checkpoint(tmp_path / "none.tar")
    torch.save({"network_fn_state_dict": {"other": torch.zeros(3)}}, tmp_path / "a.tar")
    with pytest.raises(ValueError, match="a.tar: no 'exposure_embedding.params'"):
        load_act_checkpoint(tmp_path / "a.tar")
    torch.save({"network_fn_state_dict": {"exposure_embedding.params": torch.zeros(100)}}, tmp_path / "b.tar")
    with pytest.raises(ValueError, match="b.tar: 100 parameters, but a 10-32x3-12 FullyFusedMLP has 3072"):
        load_act_checkpoint(tmp_path / "b.tar")
    assert [w.shape for w in tcnn_layers(torch.zeros(3072))] == [(32, 16), (32, 32), (32, 32), (12, 32)]
