"""Losses and training modes of the learned magnifiers: the face-aware term reaches the
generator's gradient, frozen parts stay frozen, fine-tuning sees only different frames."""
import numpy as np
import pytest
import torch

from mexflow.magnify.generator import FlowMagGenerator, load_checkpoint_meta, load_generator, save_checkpoint
from mexflow.magnify.losses import LossWeights, magnification_losses
from mexflow.magnify.supervisors import LucasKanadeFlow
from mexflow.magnify.train import TrainSpec, adapt_to_clip, finetune_me, sample_alpha


def _pair(size=32, seed=0):
    from mexflow.magnify.pairs import smooth_random_flow, warp_forward

    rng = np.random.default_rng(seed)
    import cv2

    tex = cv2.resize(rng.uniform(0, 255, (size // 4, size // 4, 3)).astype(np.float32), (size, size),
                     interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    x1 = warp_forward(tex, smooth_random_flow(rng, size, 0.8))
    to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    return to_t(tex), to_t(x1)


def _grads(weights: LossWeights, masks):
    torch.manual_seed(0)
    g = FlowMagGenerator(width=4, depth=3, output="frame")
    x0, x1 = _pair()
    losses = magnification_losses(LucasKanadeFlow(), x0, x1, g(x0, x1, 4.0), 4.0, weights, masks)
    losses["total"].backward()
    return torch.cat([p.grad.flatten() for p in g.parameters()]), losses


def test_landmark_term_changes_the_generator_gradient():
    # The public face-aware code logged L_landmark but never backpropagated it.
    masks = torch.zeros(1, 32, 32)
    masks[:, 8:20, 10:26] = 1
    g0, l0 = _grads(LossWeights(landmark=0.0), masks)
    g5, l5 = _grads(LossWeights(landmark=5.0), masks)
    assert float(l5["landmark"]) > 0
    total5, total0 = float(l5["total"].detach()), float(l0["total"].detach())
    assert total5 == pytest.approx(total0 + 5 * float(l5["landmark"]), rel=1e-5)
    rel = float((g5 - g0).norm() / g0.norm())
    assert rel > 0.05, rel
    # All-zero masks contribute nothing: the same gradient as without the term.
    gz, _ = _grads(LossWeights(landmark=5.0), torch.zeros(1, 32, 32))
    assert torch.allclose(gz, g0, atol=1e-7)
    with pytest.raises(ValueError, match="mask"):
        _grads(LossWeights(landmark=2.0), None)


def test_alpha_is_log_uniform_in_range():
    a = sample_alpha(np.random.default_rng(0), 20000, (1 / 16, 1))
    assert a.min() >= 1 / 16 and a.max() <= 1
    assert np.median(np.log2(a)) == pytest.approx(-2.0, abs=0.05)


def _clips(n=3, t=4, size=40, seed=0):
    rng = np.random.default_rng(seed)
    from mexflow.magnify.pairs import smooth_random_flow, warp_forward

    clips = []
    for _ in range(n):
        base = (rng.uniform(0, 255, (size, size, 3))).astype(np.uint8)
        flow = smooth_random_flow(rng, size, 0.5)
        clips.append(np.stack([warp_forward(base, flow * (i / (t - 1))) for i in range(t)]))
    return clips


def test_finetuning_freezes_encoder_and_trains_decoder():
    torch.manual_seed(0)
    g = FlowMagGenerator(width=4, depth=3, output="frame")
    before = {k: v.clone() for k, v in g.state_dict().items()}
    spec = TrainSpec(steps=2, batch_size=2, crop=32, freeze_encoder=True, lr=1e-2,
                     loss=LossWeights(landmark=2.0))
    masks = [np.ones((40, 40), np.float32)] * 3
    g, meta = finetune_me(g, spec, LucasKanadeFlow(), _clips(), masks)
    after = g.state_dict()
    down = [k for k in before if k.startswith("down_layers")]
    up = [k for k in before if k.startswith("up_layers") and k.endswith("weight")]
    assert all(torch.equal(before[k], after[k]) for k in down)       # incl. BatchNorm statistics
    assert all(not torch.equal(before[k], after[k]) for k in up)
    assert meta["mode"] == "finetune" and meta["freeze_encoder"] and meta["history"]
    with pytest.raises(ValueError, match="masks"):
        finetune_me(g, spec, LucasKanadeFlow(), _clips(), None)


def test_tta_adapts_a_copy(tmp_path):
    torch.manual_seed(0)
    g = FlowMagGenerator(width=4, depth=3, output="residual")
    ref = {k: v.clone() for k, v in g.state_dict().items()}
    adapted = adapt_to_clip(g, _clips(1)[0], TrainSpec(steps=2, batch_size=2, crop=32, lr=1e-2),
                            LucasKanadeFlow())
    assert all(torch.equal(ref[k], v) for k, v in g.state_dict().items())
    assert any(not torch.equal(ref[k], v) for k, v in adapted.state_dict().items())
    # A checkpoint of the adapted model reloads with weights_only=True and keeps its metadata.
    save_checkpoint(tmp_path / "a.pt", adapted, {"mode": "tta"})
    assert load_checkpoint_meta(tmp_path / "a.pt")["mode"] == "tta"
    assert load_generator(tmp_path / "a.pt").output == "residual"
