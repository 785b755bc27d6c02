"""FlowMag-compatible generator: architecture, alpha embedding, checkpoints, freezing, inference."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mexflow.devices import select_device
from mexflow.magnify.generator import (
    ALPHA_WAVELENGTHS, FlowMagGenerator, alpha_embedding, alpha_map, extract_generator_state,
    infer_architecture, load_checkpoint_meta, load_generator, magnify_clip, save_checkpoint,
    to_frames, to_tensor)

torch.set_num_threads(2)
H, W = 32, 48


def _randomise_bn(gen: FlowMagGenerator, seed: int = 0) -> FlowMagGenerator:
    """Non-default BatchNorm statistics and affine terms, so that loading them is checked too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in gen.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(1 + 0.1 * torch.randn(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.num_batches_tracked.fill_(7)
    return gen


def _small(output: str = "frame", width: int = 8, depth: int = 5, seed: int = 0):
    torch.manual_seed(seed)
    return _randomise_bn(FlowMagGenerator(width=width, depth=depth, output=output), seed).eval()


def _pair(b: int = 2, h: int = H, w: int = W, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g), torch.rand(b, 3, h, w, generator=g)


def _clip(t: int = 5, h: int = H, w: int = W, gray: bool = False, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (t, h, w) if gray else (t, h, w, 3)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


# ----------------------------------------------------------------------------- architecture
def test_flowmag_width64_state_dict_layout():
    gen = FlowMagGenerator()
    sd = gen.state_dict()
    assert len(sd) == 128
    assert sum(p.numel() for p in gen.parameters()) == 17_287_683
    expected = {
        "down_layers.0.double_conv.0.weight": (64, 38, 3, 3),
        "down_layers.0.double_conv.1.running_var": (64,),
        "down_layers.4.double_conv.0.weight": (512, 512, 3, 3),
        "down_layers.4.double_conv.4.bias": (512,),
        "up_layers.0.double_conv.0.weight": (512, 1024, 3, 3),
        "up_layers.0.double_conv.3.weight": (256, 512, 3, 3),
        "up_layers.1.double_conv.0.weight": (256, 512, 3, 3),
        "up_layers.2.double_conv.0.weight": (128, 256, 3, 3),
        "up_layers.3.double_conv.0.weight": (64, 128, 3, 3),
        "up_layers.3.double_conv.3.weight": (64, 64, 3, 3),
        "up_layers.4.weight": (3, 64, 1, 1),
        "up_layers.4.bias": (3,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert sd["up_layers.0.double_conv.1.num_batches_tracked"].ndim == 0
    assert infer_architecture(sd) == {"width": 64, "depth": 5}


@pytest.mark.parametrize("width,depth", [(8, 2), (8, 3), (16, 4), (4, 6)])
def test_other_sizes_build_run_and_are_inferred(width, depth):
    gen = FlowMagGenerator(width=width, depth=depth).eval()
    assert infer_architecture(gen.state_dict()) == {"width": width, "depth": depth}
    assert len(gen.state_dict()) == 14 * (2 * depth - 1) + 2
    x0, x1 = _pair(1, 20, 28)
    with torch.no_grad():
        y = gen(x0, x1, 4.0)
    assert y.shape == x1.shape


def test_invalid_construction():
    with pytest.raises(ValueError):
        FlowMagGenerator(depth=1)
    with pytest.raises(ValueError):
        FlowMagGenerator(output="delta")


# ----------------------------------------------------------------------------- output modes
def test_residual_mode_untrained_is_identity_on_x1():
    gen = FlowMagGenerator(width=8, output="residual")
    x0, x1 = _pair()
    for mode in (True, False):
        gen.train(mode)
        with torch.no_grad():
            y = gen(x0, x1, 8.0)
        assert torch.equal(y, x1)


def test_frame_mode_is_sigmoid_in_open_unit_interval():
    gen = _small("frame")
    x0, x1 = _pair()
    with torch.no_grad():
        y = gen(x0, x1, 3.0)
    assert y.shape == x1.shape and y.dtype == torch.float32
    assert float(y.min()) > 0.0 and float(y.max()) < 1.0
    assert not torch.allclose(y, x1, atol=1e-2)


def test_odd_sizes_padded_and_cropped_back_consistently():
    gen = _small("frame", depth=4)
    x0, x1 = _pair(1, 29, 37)
    with torch.no_grad():
        y = gen(x0, x1, 2.0)
        y_big = gen(torch.nn.functional.pad(x0, [0, 3, 0, 3], mode="reflect"),
                    torch.nn.functional.pad(x1, [0, 3, 0, 3], mode="reflect"), 2.0)
    assert y.shape == (1, 3, 29, 37)
    # 29x37 is padded to 32x40 by reflection inside the model: the explicit reflection pad to the
    # same size gives the same output on the original pixels (float rounding only).
    torch.testing.assert_close(y, y_big[:, :, :29, :37], atol=1e-5, rtol=0)
    # Images smaller than the padding fall back to replication and still work.
    x0s, x1s = _pair(1, 5, 7)
    with torch.no_grad():
        assert gen(x0s, x1s, 2.0).shape == (1, 3, 5, 7)


# ----------------------------------------------------------------------------- alpha embedding
def test_alpha_wavelengths():
    expected = 2.0 ** np.linspace(-3, 7, 32)
    np.testing.assert_allclose(ALPHA_WAVELENGTHS.numpy(), expected, rtol=1e-6)


def test_alpha_embedding_values_against_formula():
    alpha = 3.7
    emb = alpha_embedding(alpha, 2, 4, 5)
    assert emb.shape == (2, 32, 4, 5) and emb.dtype == torch.float32
    expected = np.sin(2 * np.pi * alpha / 2.0 ** np.linspace(-3, 7, 32))
    for b in range(2):
        for (i, j) in [(0, 0), (3, 4), (2, 1)]:
            np.testing.assert_allclose(emb[b, :, i, j].numpy(), expected, atol=1e-6)
    # per-sample factors
    per = alpha_embedding(torch.tensor([1.0, 16.0]), 2, 3, 3)
    for b, a in enumerate((1.0, 16.0)):
        np.testing.assert_allclose(per[b, :, 1, 1].numpy(),
                                   np.sin(2 * np.pi * a / 2.0 ** np.linspace(-3, 7, 32)),
                                   atol=1e-6)
    # alpha = 1 has sin(2 pi / 2^-3) = sin(16 pi) = 0 in channel 0, and the largest wavelength
    # 128 gives sin(2 pi / 128) in channel 31
    one = alpha_embedding(1.0, 1, 1, 1)[0, :, 0, 0]
    assert abs(float(one[0])) < 1e-6
    assert abs(float(one[31]) - math.sin(2 * math.pi / 128)) < 1e-6


def test_spatial_alpha_map_embedding_inside_and_outside():
    mask = np.zeros((6, 8), bool)
    mask[2:4, 3:6] = True
    amap = alpha_map(mask, 10.0)
    assert amap.shape == (1, 1, 6, 8) and amap.dtype == torch.float32
    assert float(amap[0, 0, 2, 3]) == 10.0 and float(amap[0, 0, 0, 0]) == 1.0
    emb = alpha_embedding(amap, 3, 6, 8)           # (1,1,H,W) broadcast over the batch
    assert emb.shape == (3, 32, 6, 8)
    torch.testing.assert_close(emb[:, :, 2, 4], alpha_embedding(10.0, 3, 1, 1)[:, :, 0, 0],
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(emb[:, :, 5, 0], alpha_embedding(1.0, 3, 1, 1)[:, :, 0, 0],
                               atol=1e-6, rtol=0)
    assert float((emb[0, :, 2, 4] - emb[0, :, 5, 0]).abs().max()) > 0.5
    # (B,H,W) form equals (B,1,H,W)
    torch.testing.assert_close(alpha_embedding(amap[:, 0], 1, 6, 8), emb[:1])
    with pytest.raises(ValueError):
        alpha_embedding(amap, 1, 6, 9)
    with pytest.raises(ValueError):
        alpha_embedding(torch.ones(3), 2, 4, 4)


def test_generator_uses_spatial_alpha_per_pixel():
    gen = _small("frame")
    x0, x1 = _pair(1)
    mask = np.zeros((H, W), bool)
    mask[8:24, 16:40] = True
    with torch.no_grad():
        y_map = gen(x0, x1, alpha_map(mask, 1.0))       # alpha 1 everywhere
        y_one = gen(x0, x1, 1.0)
        y_tgt = gen(x0, x1, alpha_map(mask, 12.0))
    torch.testing.assert_close(y_map, y_one, atol=1e-6, rtol=0)
    assert float((y_tgt - y_one).abs().max()) > 1e-3


# ----------------------------------------------------------------------------- checkpoints
def test_fake_flowmag_release_checkpoint_loads_with_identical_outputs(tmp_path):
    src = _small("frame", width=8, seed=3)
    release = {"module.generator." + k: v for k, v in src.state_dict().items()}
    release["module.flow_net.fnet.conv1.weight"] = torch.randn(64, 3, 7, 7)
    release["module.flow_net.update_block.gru.convz1.bias"] = torch.randn(128)
    path = tmp_path / "flowmag_release.pth"
    torch.save(release, path)

    gen = load_generator(path)
    assert gen.output == "frame" and not gen.training
    assert (gen.width, gen.depth) == (8, 5)
    assert load_checkpoint_meta(path) == {}
    x0, x1 = _pair()
    with torch.no_grad():
        assert torch.equal(gen(x0, x1, 5.0), src(x0, x1, 5.0))
    for k, v in src.state_dict().items():
        assert torch.equal(gen.state_dict()[k], v), k


def test_extract_generator_state_formats_and_error():
    sd = FlowMagGenerator(width=4, depth=3).state_dict()
    for wrapped in ({"generator." + k: v for k, v in sd.items()} | {"discriminator.x": 1},
                    {"module.generator." + k: v for k, v in sd.items()},
                    dict(sd),
                    {"state_dict": dict(sd), "meta": {"output": "frame"}}):
        got = extract_generator_state(wrapped)
        assert set(got) == set(sd)
    with pytest.raises(ValueError, match="flow_net"):
        extract_generator_state({"module.flow_net.a": torch.zeros(1),
                                 "module.flow_net.b": torch.zeros(1)})


def test_save_checkpoint_round_trip_with_meta(tmp_path):
    src = _small("residual", width=8, depth=4, seed=5)
    path = tmp_path / "sub" / "gen.pt"
    meta = {"alpha_range": [1.0, 16.0], "epochs": np.int64(3), "loss": {"mag": 1.0, "color": 10.0},
            "note": None, "frozen_encoder": True}
    save_checkpoint(path, src, meta)
    assert [p.name for p in path.parent.iterdir()] == ["gen.pt"]   # no temp file left behind
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == {"state_dict", "meta"}
    got = load_checkpoint_meta(path)
    assert got == {"alpha_range": [1.0, 16.0], "epochs": 3, "loss": {"mag": 1.0, "color": 10.0},
                   "note": None, "frozen_encoder": True, "width": 8, "depth": 4,
                   "output": "residual"}
    gen = load_generator(path)
    assert gen.output == "residual" and (gen.width, gen.depth) == (8, 4) and not gen.training
    x0, x1 = _pair()
    with torch.no_grad():
        assert torch.equal(gen(x0, x1, 2.0), src(x0, x1, 2.0))
    assert load_generator(path, output="frame").output == "frame"
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "bad.pt", src, {"array": np.zeros(3)})
    assert not (tmp_path / "bad.pt").exists()


def test_strict_load_rejects_mismatched_state(tmp_path):
    sd = FlowMagGenerator(width=8, depth=3).state_dict()
    del sd["up_layers.0.double_conv.1.running_mean"]
    torch.save(sd, tmp_path / "broken.pt")
    with pytest.raises(RuntimeError):
        load_generator(tmp_path / "broken.pt")


# ----------------------------------------------------------------------------- freezing
def test_freeze_encoder_keeps_down_layers_fixed_and_trains_up_layers():
    torch.manual_seed(0)
    gen = FlowMagGenerator(width=8, depth=4, output="frame")
    gen.freeze_encoder()
    gen.train()
    assert gen.encoder_frozen
    assert all(not m.training for m in gen.down_layers.modules())
    assert all(m.training for m in gen.up_layers.modules())
    n_down = sum(1 for _ in gen.down_layers.parameters())
    n_all = sum(1 for _ in gen.parameters())
    assert len(gen.trainable_parameters()) == n_all - n_down

    before = {k: v.clone() for k, v in gen.state_dict().items()}
    opt = torch.optim.Adam(gen.trainable_parameters(), lr=1e-2)
    x0, x1 = _pair(2)
    target = torch.rand_like(x1)
    loss = (gen(x0, x1, 4.0) - target).abs().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = gen.state_dict()
    for k, v in before.items():
        if k.startswith("down_layers."):
            assert torch.equal(after[k], v), k          # weights and BN running stats
    changed = [k for k in before
               if k.startswith("up_layers.") and not torch.equal(after[k], before[k])]
    assert "up_layers.0.double_conv.0.weight" in changed
    assert "up_layers.3.weight" in changed
    assert "up_layers.0.double_conv.1.running_mean" in changed   # decoder BN still in train mode
    assert all(p.grad is None for p in gen.down_layers.parameters())
    gen.eval()
    gen.train()
    assert all(not m.training for m in gen.down_layers.modules())


# ----------------------------------------------------------------------------- inference
def test_to_tensor_and_to_frames_round_trip():
    rgb = _clip(3)
    t = to_tensor(rgb)
    assert t.shape == (3, 3, H, W) and t.dtype == torch.float32
    assert float(t.max()) <= 1.0 and float(t.min()) >= 0.0
    assert np.array_equal(to_frames(t, gray=False), rgb)
    gray = _clip(3, gray=True)
    tg = to_tensor(gray)
    assert torch.equal(tg[:, 0], tg[:, 2])
    assert np.array_equal(to_frames(tg, gray=True), gray)
    with pytest.raises(TypeError):
        to_tensor(rgb.astype(np.float32))


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError):
            select_device("cuda")


@pytest.mark.parametrize("gray", [False, True])
def test_magnify_clip_shapes_dtype_and_frame0(gray):
    gen = _small("frame", seed=7)
    gen.train()
    clip = _clip(6, 29, 35, gray=gray)          # odd sizes
    out = magnify_clip(gen, clip, alpha=4.0, batch_size=4)
    assert not gen.training
    assert out.shape == clip.shape and out.dtype == np.uint8
    assert np.array_equal(out[0], clip[0])
    assert not np.array_equal(out[1:], clip[1:])
    # frame i equals the generator applied to the pair (frame 0, frame i)
    x = to_tensor(clip)
    with torch.no_grad():
        y3 = gen(x[:1], x[3:4], 4.0)
    assert np.abs(out[3].astype(int) - to_frames(y3, gray)[0].astype(int)).max() <= 1


def test_magnify_clip_residual_untrained_is_identity():
    clip = _clip(4)
    out = magnify_clip(FlowMagGenerator(width=8, output="residual"), clip, alpha=10.0)
    assert np.array_equal(out, clip)


def test_magnify_clip_batch_size_does_not_change_result():
    gen = _small("frame", seed=8)
    clip = _clip(7)
    a = magnify_clip(gen, clip, 6.0, batch_size=1)
    b = magnify_clip(gen, clip, 6.0, batch_size=4)
    c = magnify_clip(gen, clip, 6.0, batch_size=16)
    for other in (b, c):
        diff = np.abs(a.astype(int) - other.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_magnify_clip_large_alpha_applies_model_twice_with_sqrt():
    gen = _small("frame", seed=9)
    calls = []

    def hook(_module, args, _output):
        calls.append(args[2])

    handle = gen.register_forward_hook(hook)
    clip = _clip(5)
    magnify_clip(gen, clip, alpha=9.0, batch_size=8)
    assert calls == [9.0]
    calls.clear()
    out = magnify_clip(gen, clip, alpha=25.0, batch_size=8)
    assert calls == [5.0, 5.0]
    calls.clear()
    magnify_clip(gen, clip, alpha=36.0, batch_size=2)   # 4 frames in 2 batches, twice each
    assert calls == [6.0] * 4
    handle.remove()

    x = to_tensor(clip)
    ref = x[:1].expand(4, -1, -1, -1)
    with torch.no_grad():
        y = gen(ref, gen(ref, x[1:], 5.0), 5.0)
    diff = np.abs(out[1:].astype(int) - to_frames(y, False).astype(int))
    assert diff.max() <= 1


def test_magnify_clip_alpha_mask_uses_spatial_map():
    gen = _small("frame", seed=10)
    clip = _clip(4)
    mask = np.zeros((H, W), bool)
    mask[10:20, 10:30] = True
    out = magnify_clip(gen, clip, alpha=8.0, alpha_mask=mask)
    x = to_tensor(clip)
    with torch.no_grad():
        y = gen(x[:1].expand(3, -1, -1, -1), x[1:], alpha_map(mask, 8.0))
    assert np.abs(out[1:].astype(int) - to_frames(y, False).astype(int)).max() <= 1
    uniform = magnify_clip(gen, clip, alpha=8.0)
    assert not np.array_equal(out, uniform)
    with pytest.raises(ValueError):
        magnify_clip(gen, clip, alpha=8.0, alpha_mask=mask[:-1])
