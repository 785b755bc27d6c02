"""FlowMag generator: exact compatibility with the published FlowMag code and checkpoints,
architecture, alpha embedding, checkpoints (incl. earlier mexflow layouts), freezing, inference.

The release checkpoint and the reference forward pass below are written from FlowMag's
published semantics only (key list and shapes, input stacking, embedding, mask blend, the
twice rule, unpadded odd sizes), independently of mexflow's modules.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mexflow.devices import select_device
from mexflow.magnify.generator import (
    ALPHA_WAVELENGTHS, CHECKPOINT_LAYOUT, AlphaRangeWarning, FlowMagGenerator, alpha_embedding,
    alpha_map, extract_generator_state, infer_architecture, load_checkpoint_meta, load_generator,
    magnify_clip, magnify_pair, save_checkpoint, to_frames, to_tensor)

torch.set_num_threads(2)
H, W = 32, 48

# ----------------------------------------------------------------------------- FlowMag reference
# The official generator (models/model_zoo.py UNet, ndf=8, num_layers=5, 38 in, 3 out):
# (module prefix, in, mid, out) of each double conv [conv3x3, BN, ReLU, conv3x3, BN, ReLU].
RELEASE_DOWN = [
    ("down_layers.0.double_conv", 38, 8, 8),
    ("down_layers.1.maxpool_conv.1.double_conv", 8, 16, 16),
    ("down_layers.2.maxpool_conv.1.double_conv", 16, 32, 32),
    ("down_layers.3.maxpool_conv.1.double_conv", 32, 64, 64),
    ("down_layers.4.maxpool_conv.1.double_conv", 64, 64, 64),
]
RELEASE_UP = [
    ("up_layers.0.conv.double_conv", 128, 64, 32),
    ("up_layers.1.conv.double_conv", 64, 32, 16),
    ("up_layers.2.conv.double_conv", 32, 16, 8),
    ("up_layers.3.conv.double_conv", 16, 8, 8),
]
RELEASE_OUT = ("up_layers.4.conv", 8, 3)


def release_generator_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random generator weights in the official key names and shapes, with non-trivial BatchNorm
    affine terms and running statistics."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def conv(name, c_in, c_out, k):
        sd[f"{name}.weight"] = torch.randn(c_out, c_in, k, k, generator=g) * math.sqrt(2 / (c_in * k * k))
        sd[f"{name}.bias"] = 0.05 * torch.randn(c_out, generator=g)

    def bn(name, c):
        sd[f"{name}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        sd[f"{name}.bias"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{name}.running_mean"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[f"{name}.num_batches_tracked"] = torch.tensor(1234)

    for prefix, c_in, c_mid, c_out in RELEASE_DOWN + RELEASE_UP:
        conv(f"{prefix}.0", c_in, c_mid, 3)
        bn(f"{prefix}.1", c_mid)
        conv(f"{prefix}.3", c_mid, c_out, 3)
        bn(f"{prefix}.4", c_out)
    conv(RELEASE_OUT[0], RELEASE_OUT[1], RELEASE_OUT[2], 1)
    return sd


def save_release(path, gen_state: dict, seed: int = 1) -> None:
    """A checkpoint in the structure of FlowMag's train.py: DataParallel(MotionMagModel) state
    dict (generator beside the loss's frozen RAFT), optimiser state, epoch."""
    g = torch.Generator().manual_seed(seed)
    state = {"module.generator." + k: v for k, v in gen_state.items()}
    state["module.mm_loss_fn.flow_net.fnet.conv1.weight"] = torch.randn(64, 3, 7, 7, generator=g)
    state["module.mm_loss_fn.flow_net.update_block.gru.convz1.bias"] = torch.randn(128, generator=g)
    optimiser = {"state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.zeros(8, 38, 3, 3)}},
                 "param_groups": [{"lr": 3e-4, "betas": (0.9, 0.999), "eps": 1e-8,
                                   "weight_decay": 0, "amsgrad": False, "params": [0]}]}
    torch.save({"state_dict": state, "optimizer_state_dict": optimiser, "epoch": 3}, path)


def ref_forward(sd, x0, x1, alpha: float, mask=None, legacy_input: bool = False):
    """FlowMag's generator pass in torch.nn.functional only. legacy_input: feed
    [R0, G0, B0, R1, G1, B1] (earlier mexflow) instead of FlowMag's [R0, R1, G0, G1, B0, B1]."""
    b, _, h, w = x0.shape
    frames = torch.cat([x0, x1], 1) if legacy_input else torch.stack([x0, x1], 2).reshape(b, 6, h, w)
    wavelengths = torch.logspace(-3, 7, 32, base=2)
    pe = torch.sin(2 * 3.141592 * (torch.ones(b) * alpha)[:, None] / wavelengths[None, :])
    pe = pe[:, :, None, None].repeat(1, 1, h, w)
    if mask is not None:
        m = mask.float()[None, None]
        one = torch.sin(2 * 3.141592 * torch.ones(b)[:, None] / wavelengths[None, :])
        pe = pe * m + one[:, :, None, None].repeat(1, 1, h, w) * (1 - m)
    x = torch.cat([frames, pe], 1)

    def double_conv(x, p):
        for i in (0, 3):
            x = F.conv2d(x, sd[f"{p}.{i}.weight"], sd[f"{p}.{i}.bias"], padding=1)
            x = F.batch_norm(x, sd[f"{p}.{i + 1}.running_mean"], sd[f"{p}.{i + 1}.running_var"],
                             sd[f"{p}.{i + 1}.weight"], sd[f"{p}.{i + 1}.bias"], training=False,
                             eps=1e-5)
            x = F.relu(x)
        return x

    skips = []
    for i, (p, *_) in enumerate(RELEASE_DOWN):
        if i:
            x = F.max_pool2d(x, 2)
        x = double_conv(x, p)
        skips.append(x)
    x = skips.pop()
    for p, *_ in RELEASE_UP:
        skip = skips.pop()
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        x = double_conv(torch.cat([skip, x], 1), p)
    out = F.conv2d(x, sd[f"{RELEASE_OUT[0]}.weight"], sd[f"{RELEASE_OUT[0]}.bias"])
    return torch.sigmoid(out)


def ref_magnify(sd, x0, x1, alpha: float, mask=None, **kw):
    """FlowMag inference: above 16, two passes of sqrt(alpha), the second on the first's output
    (mexflow runs 16 itself as one pass, where FlowMag raises)."""
    if alpha > 16:
        a = math.sqrt(alpha)
        return ref_forward(sd, x0, ref_forward(sd, x0, x1, a, mask, **kw), a, mask, **kw)
    return ref_forward(sd, x0, x1, alpha, mask, **kw)


def _uint8_clip(t, h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


def _float_frames(clip):
    return torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 255.0


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    path = tmp_path_factory.mktemp("release") / "flowmag_release.pth"
    sd = release_generator_state(seed=0)
    save_release(path, sd)
    return path, sd


# name, (h, w), alpha, masked
RELEASE_CASES = [
    ("scalar", (H, W), 5.0, False),
    ("alpha16_one_pass", (H, W), 16.0, False),
    ("alpha20_twice", (H, W), 20.0, False),
    ("masked", (H, W), 8.0, True),
    ("odd_50x38", (50, 38), 6.0, False),
    ("odd_masked_twice", (50, 38), 30.0, True),
]


@pytest.mark.parametrize("name,size,alpha,masked", RELEASE_CASES, ids=[c[0] for c in RELEASE_CASES])
def test_release_checkpoint_matches_reference_forward(release, name, size, alpha, masked):
    path, sd = release
    gen = load_generator(path)
    assert gen.output == "frame" and not gen.training and (gen.width, gen.depth) == (8, 5)
    assert gen.alpha_range == (1.0, 16.0)
    h, w = size
    clip = _uint8_clip(4, h, w, seed=len(name))
    mask = None
    if masked:
        mask = np.zeros((h, w), bool)
        mask[h // 4:3 * h // 4, w // 5:4 * w // 5] = True
    x = _float_frames(clip)
    x0 = x[:1].expand(3, -1, -1, -1)
    m = None if mask is None else torch.from_numpy(mask)
    with torch.no_grad():
        ref = ref_magnify(sd, x0, x[1:], alpha, m)
        got = magnify_pair(gen, x0, x[1:], alpha, mask)
        if alpha <= 16:   # one pass: forward itself
            fwd = gen(x0, x[1:], alpha, mask=m)
            assert float((fwd - ref).abs().max()) < 1e-5
    diff = float((got - ref).abs().max())
    print(f"max |mexflow - FlowMag reference| [{name}]: {diff:.2e}")
    assert diff < 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # all these factors are in the trained range
        out = magnify_clip(gen, clip, alpha, batch_size=2, alpha_mask=mask)
    expected = np.round(ref.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255.0).astype(int)
    assert np.array_equal(out[0], clip[0])
    assert np.abs(out[1:].astype(int) - expected).max() <= 1


def test_release_key_layout_is_mexflow_native(release):
    path, sd = release
    raw = torch.load(path, map_location="cpu", weights_only=True)
    gen = load_generator(path)
    assert list(gen.state_dict()) == list(sd)          # same names, same order
    for k, v in sd.items():
        assert torch.equal(gen.state_dict()[k], v), k
    assert set(extract_generator_state(raw)) == set(sd)
    assert load_checkpoint_meta(path) == {}
    assert len(raw["state_dict"]) == len(sd) + 2       # the RAFT keys are dropped


def test_load_uses_weights_only_onto_the_cpu(release, monkeypatch):
    """A FlowMag release holds CUDA tensors; this machine cannot create them, so the test
    checks that every load asks torch.load for map_location="cpu" and weights_only=True."""
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_generator(release[0])
    load_checkpoint_meta(release[0])
    assert calls and all(c.get("map_location") == "cpu" and c.get("weights_only") is True
                         for c in calls)


def test_unreadable_checkpoints_raise_clear_value_errors(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="junk.pth") as err:
        load_generator(junk)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": {}, "config": np.zeros(3)}, unsafe)
    with pytest.raises(ValueError, match="unsafe.pth") as err2:
        load_checkpoint_meta(unsafe)
    for e in (err, err2):
        assert "weights_only=False" not in str(e.value) and "weights_only` set to `False" not in str(e.value)
    with pytest.raises(FileNotFoundError):
        load_generator(tmp_path / "missing.pth")


# ----------------------------------------------------------------------------- earlier mexflow
def _legacy_from_release(sd: dict) -> dict:
    """The same weights in the layout of earlier mexflow versions, written out by hand: keys
    down_layers.{i}.double_conv.*, up_layers.{j}.double_conv.*, up_layers.4.{weight,bias};
    input channels [R0, G0, B0, R1, G1, B1] + embedding."""
    legacy = {}
    for k, v in sd.items():
        k = k.replace(".maxpool_conv.1.", ".").replace("up_layers.4.conv.", "up_layers.4.")
        legacy[k.replace(".conv.double_conv.", ".double_conv.")] = v.clone()
    first = sd["down_layers.0.double_conv.0.weight"]
    # legacy channel c holds: R0 G0 B0 R1 G1 B1 = FlowMag channels 0 2 4 1 3 5
    legacy["down_layers.0.double_conv.0.weight"] = first[:, [0, 2, 4, 1, 3, 5] + list(range(6, 38))].clone()
    return legacy


def test_earlier_mexflow_checkpoint_is_converted_exactly(tmp_path):
    sd = release_generator_state(seed=4)
    legacy = _legacy_from_release(sd)
    assert "down_layers.1.double_conv.0.weight" in legacy and "up_layers.4.weight" in legacy
    path = tmp_path / "old.pt"
    torch.save({"state_dict": legacy, "meta": {"alpha_range": [1.0, 8.0], "width": 8, "depth": 5,
                                               "output": "frame"}}, path)
    gen = load_generator(path)
    assert gen.alpha_range == (1.0, 8.0) and gen.output == "frame"
    for k, v in sd.items():
        assert torch.equal(gen.state_dict()[k], v), k
    x0, x1 = _pair(2, 50, 38)
    legacy_as_named = {k: v for k, v in sd.items()}
    legacy_as_named["down_layers.0.double_conv.0.weight"] = legacy["down_layers.0.double_conv.0.weight"]
    with torch.no_grad():
        y = gen(x0, x1, 3.0)
        # the old model on its own input order computes the same function
        old = ref_forward(legacy_as_named, x0, x1, 3.0, legacy_input=True)
        assert float((y - old).abs().max()) < 1e-5
        assert float((y - ref_forward(sd, x0, x1, 3.0)).abs().max()) < 1e-5
    # a bare legacy state dict converts as well; mixed or contradictory layouts are refused
    assert set(extract_generator_state(legacy)) == set(sd)
    with pytest.raises(ValueError, match="mix"):
        extract_generator_state({**legacy, "down_layers.1.maxpool_conv.1.double_conv.0.bias": 0})
    with pytest.raises(ValueError, match="layout"):
        extract_generator_state({"state_dict": legacy, "meta": {"layout": CHECKPOINT_LAYOUT}})
    with pytest.raises(ValueError, match="unknown checkpoint layout"):
        extract_generator_state({"state_dict": sd, "meta": {"layout": "other"}})


# ----------------------------------------------------------------------------- helpers
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
        "down_layers.1.maxpool_conv.1.double_conv.0.weight": (128, 64, 3, 3),
        "down_layers.4.maxpool_conv.1.double_conv.0.weight": (512, 512, 3, 3),
        "down_layers.4.maxpool_conv.1.double_conv.4.bias": (512,),
        "up_layers.0.conv.double_conv.0.weight": (512, 1024, 3, 3),
        "up_layers.0.conv.double_conv.3.weight": (256, 512, 3, 3),
        "up_layers.1.conv.double_conv.0.weight": (256, 512, 3, 3),
        "up_layers.2.conv.double_conv.0.weight": (128, 256, 3, 3),
        "up_layers.3.conv.double_conv.0.weight": (64, 128, 3, 3),
        "up_layers.3.conv.double_conv.3.weight": (64, 64, 3, 3),
        "up_layers.4.conv.weight": (3, 64, 1, 1),
        "up_layers.4.conv.bias": (3,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert sd["up_layers.0.conv.double_conv.1.num_batches_tracked"].ndim == 0
    assert infer_architecture(sd) == {"width": 64, "depth": 5}


def test_width8_keys_and_shapes_equal_the_release_table():
    sd = FlowMagGenerator(width=8, depth=5).state_dict()
    ref = release_generator_state()
    assert list(sd) == list(ref)
    assert all(sd[k].shape == ref[k].shape for k in sd)


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


def test_sides_below_the_pooling_minimum_are_replicate_padded():
    gen = _small("frame", depth=4)       # 3 poolings: sides >= 8 run unpadded
    x0, x1 = _pair(1, 5, 11)
    with torch.no_grad():
        y = gen(x0, x1, 2.0)
        pad = [0, 0, 0, 3]
        y_big = gen(F.pad(x0, pad, mode="replicate"), F.pad(x1, pad, mode="replicate"), 2.0)
    assert y.shape == (1, 3, 5, 11)
    torch.testing.assert_close(y, y_big[:, :, :5, :11], atol=1e-6, rtol=0)
    x0, x1 = _pair(1, 1, 1)
    with torch.no_grad():
        assert gen(x0, x1, 2.0).shape == (1, 3, 1, 1)


# ----------------------------------------------------------------------------- alpha embedding
def test_alpha_wavelengths():
    expected = 2.0 ** np.linspace(-3, 7, 32)
    np.testing.assert_allclose(ALPHA_WAVELENGTHS.numpy(), expected, rtol=1e-6)
    assert ALPHA_WAVELENGTHS.dtype == torch.float32


def _flowmag_phase_sine(alpha: float) -> np.ndarray:
    """sin of FlowMag's float32 phase 2 * 3.141592 * alpha / lambda_k (sine in float64)."""
    lam = (2.0 ** np.linspace(-3, 7, 32)).astype(np.float32)
    phase = (np.float32(2 * 3.141592) * np.float32(alpha)) / lam
    return np.sin(phase.astype(np.float64))


def test_alpha_embedding_values_against_formula():
    alpha = 3.7
    emb = alpha_embedding(alpha, 2, 4, 5)
    assert emb.shape == (2, 32, 4, 5) and emb.dtype == torch.float32
    expected = _flowmag_phase_sine(alpha)
    for b in range(2):
        for (i, j) in [(0, 0), (3, 4), (2, 1)]:
            np.testing.assert_allclose(emb[b, :, i, j].numpy(), expected, atol=1e-6)
    # pi written 3.141592 matters: with the true pi the highest-frequency channels differ > 1e-5
    exact = np.sin(2 * np.pi * alpha / 2.0 ** np.linspace(-3, 7, 32))
    assert np.abs(emb[0, :, 0, 0].numpy() - exact).max() > 1e-5
    per = alpha_embedding(torch.tensor([1.0, 16.0]), 2, 3, 3)
    for b, a in enumerate((1.0, 16.0)):
        np.testing.assert_allclose(per[b, :, 1, 1].numpy(), _flowmag_phase_sine(a), atol=1e-6)


def test_spatial_alpha_map_and_mask_blend():
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
    torch.testing.assert_close(alpha_embedding(amap[:, 0], 1, 6, 8), emb[:1])
    # FlowMag's blend with a binary mask equals the alpha map's embedding
    blend = alpha_embedding(10.0, 3, 6, 8, mask=mask)
    torch.testing.assert_close(blend, emb, atol=1e-6, rtol=0)
    soft = alpha_embedding(10.0, 1, 6, 8, mask=np.full((6, 8), 0.25, np.float32))
    torch.testing.assert_close(soft, 0.25 * alpha_embedding(10.0, 1, 6, 8)
                               + 0.75 * alpha_embedding(1.0, 1, 6, 8), atol=1e-6, rtol=0)
    with pytest.raises(ValueError):
        alpha_embedding(amap, 1, 6, 9)
    with pytest.raises(ValueError):
        alpha_embedding(torch.ones(3), 2, 4, 4)
    with pytest.raises(ValueError):
        alpha_embedding(2.0, 1, 6, 8, mask=mask[:, :-1])


def test_generator_uses_spatial_alpha_per_pixel():
    gen = _small("frame")
    x0, x1 = _pair(1)
    mask = np.zeros((H, W), bool)
    mask[8:24, 16:40] = True
    with torch.no_grad():
        y_map = gen(x0, x1, alpha_map(mask, 1.0))       # alpha 1 everywhere
        y_one = gen(x0, x1, 1.0)
        y_tgt = gen(x0, x1, alpha_map(mask, 12.0))
        y_blend = gen(x0, x1, 12.0, mask=torch.from_numpy(mask))
    torch.testing.assert_close(y_map, y_one, atol=1e-6, rtol=0)
    torch.testing.assert_close(y_blend, y_tgt, atol=1e-6, rtol=0)
    assert float((y_tgt - y_one).abs().max()) > 1e-3


# ----------------------------------------------------------------------------- checkpoints
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
    # the release structure: FlowMag's own loader reads chkpt["state_dict"] (module.generator.*)
    # and chkpt["epoch"]
    assert set(raw) == {"state_dict", "meta", "epoch"} and raw["epoch"] == 0
    assert list(raw["state_dict"]) == ["module.generator." + k for k in src.state_dict()]
    got = load_checkpoint_meta(path)
    assert got == {"alpha_range": [1.0, 16.0], "epochs": 3, "loss": {"mag": 1.0, "color": 10.0},
                   "note": None, "frozen_encoder": True, "width": 8, "depth": 4,
                   "output": "residual", "layout": CHECKPOINT_LAYOUT}
    gen = load_generator(path)
    assert gen.output == "residual" and (gen.width, gen.depth) == (8, 4) and not gen.training
    assert gen.alpha_range == (1.0, 16.0)
    x0, x1 = _pair()
    with torch.no_grad():
        assert torch.equal(gen(x0, x1, 2.0), src(x0, x1, 2.0))
    assert load_generator(path, output="frame").output == "frame"
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "bad.pt", src, {"array": np.zeros(3)})
    assert not (tmp_path / "bad.pt").exists()


def test_width8_checkpoint_written_by_mexflow_matches_the_release_reference(tmp_path):
    sd = release_generator_state(seed=6)
    gen = FlowMagGenerator(width=8, depth=5)
    gen.load_state_dict(sd)
    save_checkpoint(tmp_path / "g.pt", gen, {})
    back = load_generator(tmp_path / "g.pt")
    assert back.alpha_range is None                     # no alpha_range recorded: no warnings
    x0, x1 = _pair(1, 50, 38)
    with torch.no_grad():
        assert float((back(x0, x1, 4.0) - ref_forward(sd, x0, x1, 4.0)).abs().max()) < 1e-5


def test_strict_load_rejects_mismatched_state(tmp_path):
    sd = FlowMagGenerator(width=8, depth=3).state_dict()
    del sd["up_layers.0.conv.double_conv.1.running_mean"]
    torch.save(sd, tmp_path / "broken.pt")
    with pytest.raises(RuntimeError):
        load_generator(tmp_path / "broken.pt")


# ----------------------------------------------------------------------------- trained range
def _warned(fn) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [w for w in caught if issubclass(w.category, AlphaRangeWarning)]


def test_alpha_outside_the_trained_range_warns_once_per_call(release, tmp_path):
    gen = load_generator(release[0])                   # FlowMag release: trained on [1, 16]
    clip = _clip(4, 16, 16)
    for alpha in (1.0, 10.0, 16.0, 20.0, 256.0):        # one pass <= 16, two of sqrt(a) <= 16
        assert _warned(lambda: magnify_clip(gen, clip, alpha, batch_size=1)) == [], alpha
    for alpha in (0.5, 300.0):
        caught = _warned(lambda: magnify_clip(gen, clip, alpha, batch_size=1))
        assert len(caught) == 1, alpha
    assert "[1, 16]" in str(caught[0].message)
    # DeMagPlus-like checkpoint trained on [1/16, 1]: 1 outside a mask is inside its range
    demag = FlowMagGenerator(width=4, depth=3)
    save_checkpoint(tmp_path / "demag.pt", demag, {"alpha_range": [0.0625, 1.0]})
    demag = load_generator(tmp_path / "demag.pt")
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    assert _warned(lambda: magnify_clip(demag, clip, 0.25, alpha_mask=mask)) == []
    assert len(_warned(lambda: magnify_clip(demag, clip, 4.0))) == 1
    # in-memory generators have no recorded range: no warning
    assert _warned(lambda: magnify_clip(_small(width=4, depth=3), clip, 500.0)) == []


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
    assert "up_layers.0.conv.double_conv.0.weight" in changed
    assert "up_layers.3.conv.weight" in changed
    assert "up_layers.0.conv.double_conv.1.running_mean" in changed   # decoder BN still in train mode
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
