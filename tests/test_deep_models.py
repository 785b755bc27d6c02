"""Deep recognisers: input conversion, architectures, losses, trainer (learning, determinism,
leakage-free epoch selection, AU predictions). About 35 s on 1 thread."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from mexflow.models import deep
from mexflow.models.deep import (balanced_class_weights, binary_focal_loss, channel_stats,
                                 count_parameters, fit_predict_deep, hflip_batch, resolve_spec)
from mexflow.models.inputs import to_model_input
from mexflow.models.nets import build_network


@pytest.fixture(autouse=True)
def _one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def blobs(n_subjects=6, per_class=3, T=7, S=16, mode="frames", seed=0):
    """3 classes = direction of a moving Gaussian blob (0, 120, 240 degrees, 1-1.5 px/frame).
    Subjects differ in blob size and brightness. mode "frames": (N, 1, T, S, S) frames only (the
    class is in the motion); "apexflow": (N, 3, 1, S, S) = apex frame + blob-masked (u, v).
    AU targets (N, 3): [class 0, class != 1, never]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    X, y, g, aux = [], [], [], []
    for s in range(n_subjects):
        sigma, bright = rng.uniform(1.5, 2.5), rng.uniform(0.6, 1.0)
        for k in range(3):
            for _ in range(per_class):
                d = np.array([math.cos(2 * math.pi * k / 3), math.sin(2 * math.pi * k / 3)]) * rng.uniform(1.0, 1.5)
                p0 = S / 2 - d * (T - 1) / 2 + rng.uniform(-1.5, 1.5, 2)

                def blob(p):
                    return np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / (2 * sigma ** 2))

                if mode == "frames":
                    v = np.stack([bright * blob(p0 + t * d) for t in range(T)])[None]
                else:
                    m = blob(p0 + d * (T - 1))
                    v = np.stack([bright * m, d[0] * (T - 1) * m, d[1] * (T - 1) * m])[:, None]
                X.append((v + rng.normal(0, 0.05, v.shape)).astype(np.float32))
                y.append(f"c{k}")
                g.append(f"s{s}")
                aux.append([int(k == 0), int(k != 1), 0])
    return np.stack(X), np.array(y), np.array(g), np.array(aux, dtype=np.uint8)


SPECS = {"cnn3d": {"kind": "cnn3d"}, "cnn_lstm": {"kind": "cnn_lstm"},
         "two_stream": {"kind": "two_stream", "frame_channels": 1}}


# ------------------------------------------------------------------------------ inputs

def test_to_model_input_tssc_area_means_and_layout():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3, 4, 8, 8, 2)).astype(np.float16)
    out = to_model_input(data, "TSSC", 4)
    assert out.shape == (3, 2, 4, 4, 4) and out.dtype == np.float32
    # 2x2 block means of each (clip, frame, channel) image
    ref = data.astype(np.float32).reshape(3, 4, 4, 2, 4, 2, 2).mean(axis=(3, 5)).transpose(0, 4, 1, 2, 3)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    # same size: a pure transpose, exact
    same = to_model_input(data, "TSSC", 8)
    np.testing.assert_array_equal(same, data.astype(np.float32).transpose(0, 4, 1, 2, 3))


def test_to_model_input_tss_uint8_scaling_and_constant():
    data = np.full((2, 5, 12, 12), 51, np.uint8)
    data[1] = 255
    out = to_model_input(data, "TSS", 5)  # non-integer factor: area averaging keeps constants
    assert out.shape == (2, 1, 5, 5, 5)
    np.testing.assert_allclose(out[0], 0.2, atol=1e-6)
    np.testing.assert_allclose(out[1], 1.0, atol=1e-6)


def test_to_model_input_ssc_upsampling_repeats_pixels_and_chunks():
    data = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    out = to_model_input(data, "SSC", 4)
    assert out.shape == (2, 3, 1, 4, 4)
    ref = np.repeat(np.repeat(data.transpose(0, 3, 1, 2), 2, axis=2), 2, axis=3)[:, :, None]
    np.testing.assert_array_equal(out, ref)
    # tiny chunks (one clip each) and a list of clips give the same result
    np.testing.assert_array_equal(to_model_input(data, "SSC", 4, chunk_bytes=1), out)
    np.testing.assert_array_equal(to_model_input(list(data), "SSC", 4), out)


def test_to_model_input_errors():
    with pytest.raises(ValueError, match="unknown layout"):
        to_model_input(np.zeros((1, 2, 4, 4)), "TCHW", 4)
    with pytest.raises(ValueError, match="5-D"):
        to_model_input(np.zeros((1, 2, 4, 4)), "TSSC", 4)
    with pytest.raises(ValueError, match="4-D"):
        to_model_input(np.zeros((1, 4, 4)), "SSC", 4)
    with pytest.raises(ValueError, match="size"):
        to_model_input(np.zeros((1, 4, 4, 3)), "SSC", 0)


# ------------------------------------------------------------------------- architectures

def test_cnn3d_parameter_count_at_reference_settings():
    # C = 3 (u, v, strain), 5 emotion classes, 12 AUs
    n = count_parameters(build_network({"kind": "cnn3d"}, 3, 5, 12))
    assert 1_000_000 <= n <= 1_400_000, n
    assert 1_500_000 <= count_parameters(build_network({"kind": "cnn_lstm"}, 3, 5, 12)) <= 1_900_000


@pytest.mark.parametrize("kind", ["cnn3d", "cnn_lstm", "two_stream"])
@pytest.mark.parametrize("T,S", [(1, 16), (7, 16), (7, 28), (1, 1)])
def test_forward_shapes(kind, T, S):
    C, K, A = 5, 4, 6
    x = torch.randn(2, C, T, S, S)
    for au_head, expect_au in ((None, kind != "two_stream"), (True, True), (False, False)):
        spec = {"kind": kind} if au_head is None else {"kind": kind, "au_head": au_head}
        net = build_network(spec, C, K, A).eval()
        with torch.no_grad():
            logits, au = net(x)
        assert logits.shape == (2, K) and torch.isfinite(logits).all()
        assert (au is not None) == expect_au
        if expect_au:
            assert au.shape == (2, A)
    _, au = build_network({"kind": kind, "au_head": True}, C, K, 0).eval()(x)
    assert au is None  # no AU targets -> no AU head


def test_two_stream_channel_split_checked():
    with pytest.raises(ValueError, match="frame_channels"):
        build_network({"kind": "two_stream"}, 3, 5, 0)  # default 3 frame channels leave no flow


# ------------------------------------------------------------------------ losses, helpers

def test_focal_loss_hand_computed():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    terms = [-(1 - sig(2.0)) ** 2 * math.log(sig(2.0)),        # y = 1
             -sig(-1.0) ** 2 * math.log(1 - sig(-1.0)),        # y = 0
             -sig(0.5) ** 2 * math.log(1 - sig(0.5)),
             -(1 - sig(3.0)) ** 2 * math.log(sig(3.0))]
    assert float(binary_focal_loss(logits, targets, 2.0)) == pytest.approx(sum(terms) / 4, rel=1e-5)
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    assert float(binary_focal_loss(logits, targets, 0.0)) == pytest.approx(float(bce), rel=1e-6)


def test_class_weights_balanced_inverse_frequency():
    y = np.array([0, 0, 0, 1, 2, 2])
    w = balanced_class_weights(y, 4)
    np.testing.assert_allclose(w, [6 / 9, 2.0, 1.0, 0.0], rtol=1e-6)  # n / (k_present * n_c)
    np.testing.assert_allclose(w[:3], compute_class_weight("balanced", classes=np.arange(3), y=y), rtol=1e-6)


def test_hflip_negates_only_horizontal_flow():
    x = torch.arange(2 * 3 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 3, 1, 2, 3)
    out = hflip_batch(x, torch.tensor([True, False]), [0])
    np.testing.assert_array_equal(out[0, 0], -x[0, 0].flip(-1))  # u: mirrored and negated
    np.testing.assert_array_equal(out[0, 1:], x[0, 1:].flip(-1))  # v, strain: mirrored
    np.testing.assert_array_equal(out[1], x[1])  # not drawn: untouched
    np.testing.assert_array_equal(x[0, 0, 0, 0], [0, 1, 2])  # input not modified


def test_channel_stats_and_spec_validation():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(40, 2, 3, 5, 5)).astype(np.float32)
    X[:, 1] = 7.0
    mean, std = channel_stats(X, chunk=7)
    np.testing.assert_allclose(mean, [X[:, 0].mean(), 7.0], rtol=1e-5)
    np.testing.assert_allclose(std, [X[:, 0].std(), 1.0], rtol=1e-4)  # constant channel -> 1
    with pytest.raises(ValueError, match="unknown key"):
        resolve_spec({"kind": "cnn3d", "epoch": 3})
    with pytest.raises(ValueError, match="hflip_negate"):
        resolve_spec({"kind": "cnn3d", "augment": "hflip"})
    with pytest.raises(ValueError, match="select"):
        resolve_spec({"kind": "cnn3d", "epochs": {"choose": [1]}})
    assert resolve_spec({"kind": "two_stream"})["label_smoothing"] == 0.1


# ------------------------------------------------------------------------------- trainer

@pytest.mark.parametrize("kind", ["cnn3d", "cnn_lstm", "two_stream"])
def test_learns_motion_direction_on_held_out_subjects(kind):
    mode = "apexflow" if kind == "two_stream" else "frames"
    X, y, g, _ = blobs(mode=mode)
    test = np.isin(g, ["s4", "s5"])  # 18 clips of 2 unseen subjects, chance = 1/3
    pred, info = fit_predict_deep(X[~test], y[~test], g[~test], X[test],
                                  spec={**SPECS[kind], "epochs": 8, "lr": 1e-3}, seed=0)
    assert info["epochs"] == 8
    assert pred.dtype.kind == "U" and set(pred) <= set(y[~test])
    assert (pred == y[test]).mean() >= 0.8


def test_deterministic_and_leaves_torch_state_alone():
    X, y, g, _ = blobs(n_subjects=3, per_class=2)
    spec = {"kind": "cnn3d", "epochs": 2, "lr": 1e-3, "augment": "hflip", "hflip_negate": []}
    torch.set_num_threads(1)
    rng_before = torch.get_rng_state()
    runs = [fit_predict_deep(X[g != "s2"], y[g != "s2"], g[g != "s2"], X[g == "s2"], spec=spec, seed=s,
                             threads=2) for s in (5, 5, 6)]
    assert torch.get_num_threads() == 1
    assert torch.equal(torch.get_rng_state(), rng_before)
    (p1, i1), (p2, i2), (_, i3) = runs
    np.testing.assert_array_equal(p1, p2)
    assert i1 == i2  # identical training losses too
    assert i1["train_loss"] != i3["train_loss"]  # the seed matters


def test_epoch_selection_uses_training_subjects_only(monkeypatch):
    X, y, g, _ = blobs(n_subjects=6, per_class=2)
    train = ~np.isin(g, ["s5"])
    X_tr, y_tr, g_tr = X[train], y[train], g[train]
    X_te = X[~train].copy()
    X_te[::2] = np.nan  # a poisoned test half: would break any statistic or training it reached

    splits = []
    real_split = deep.subject_split

    def spy_split(groups, fraction, seed):
        inner, val = real_split(groups, fraction, seed)
        splits.append((np.asarray(groups).copy(), inner, val))
        return inner, val

    calls = []  # per network built: list of (training, rows, has_nan)
    real_build = deep.build_network

    def spy_build(*args, **kwargs):
        net = real_build(*args, **kwargs)
        log = []
        calls.append(log)
        net.register_forward_pre_hook(
            lambda m, inp: log.append((m.training, inp[0].shape[0], bool(torch.isnan(inp[0]).any()))))
        return net

    monkeypatch.setattr(deep, "subject_split", spy_split)
    monkeypatch.setattr(deep, "build_network", spy_build)
    select = [1, 3]
    spec = {"kind": "cnn3d", "epochs": {"select": select, "validation_fraction": 0.25}, "lr": 1e-3}
    pred, info = fit_predict_deep(X_tr, y_tr, g_tr, X_te, spec=spec, seed=3)

    (groups, inner, val), = splits
    np.testing.assert_array_equal(groups, g_tr)  # the split saw training subjects only
    assert set(groups[val]) and set(groups[val]) < set(g_tr)
    assert not set(groups[val]) & set(groups[inner])
    assert np.array_equal(np.sort(np.concatenate([inner, val])), np.arange(len(g_tr)))
    assert info["n_val_subjects"] == 1 and info["epochs"] in select  # round(0.25 * 5) = 1 subject

    sel_net, final_net = calls  # one network for selection, one retrained from scratch
    assert sum(r for t, r, _ in sel_net if t) == max(select) * inner.size
    assert sum(r for t, r, _ in sel_net if not t) == len(select) * val.size
    assert not any(nan for *_, nan in sel_net)
    n_train_rows = sum(r for t, r, _ in final_net if t)
    assert n_train_rows == info["epochs"] * len(y_tr)
    first_eval = next(i for i, (t, *_) in enumerate(final_net) if not t)
    assert all(t and not nan for t, _, nan in final_net[:first_eval])  # training never saw X_test
    assert all(not t for t, *_ in final_net[first_eval:])  # test rows only in eval mode, at the end
    assert sum(r for t, r, _ in final_net if not t) == len(X_te)

    # Clean test rows get the predictions of a fixed-epoch run with the chosen epochs and a clean
    # X_test: the final model is retrained from scratch and X_test influenced nothing.
    monkeypatch.setattr(deep, "build_network", real_build)
    ref, ref_info = fit_predict_deep(X_tr, y_tr, g_tr, X[~train], seed=3,
                                     spec={**spec, "epochs": info["epochs"]})
    np.testing.assert_array_equal(pred[1::2], ref[1::2])
    assert ref_info["train_loss"] == info["train_loss"]

    one = g_tr == g_tr[0]
    with pytest.raises(ValueError, match=">= 2 training subjects"):
        fit_predict_deep(X_tr[one], y_tr[one], g_tr[one], X_te, spec=spec, seed=3)


def test_aux_predictions():
    X, y, g, aux = blobs(mode="frames")
    test = np.isin(g, ["s4", "s5"])
    spec = {"kind": "cnn3d", "epochs": 8, "lr": 1e-3}
    aux_tr = aux[~test].copy()
    pred, info = fit_predict_deep(X[~test], y[~test], g[~test], X[test], aux_train=aux_tr, spec=spec, seed=0)
    ap = info["aux_pred"]
    assert ap.shape == (test.sum(), 3) and ap.dtype == np.uint8 and set(np.unique(ap)) <= {0, 1}
    assert not ap[:, 2].any()  # never positive in training -> 0
    assert (ap[:, :2] == aux[test][:, :2]).mean() >= 0.8  # AU head learnt the class-linked AUs
    assert (pred == y[test]).mean() >= 0.8
    # no AU head (two_stream default) or no aux targets -> no aux_pred
    Xf, yf, gf, auxf = blobs(n_subjects=2, per_class=1, mode="apexflow")
    _, info2 = fit_predict_deep(Xf[gf == "s0"], yf[gf == "s0"], gf[gf == "s0"], Xf[gf == "s1"],
                                aux_train=auxf[gf == "s0"], spec={**SPECS["two_stream"], "epochs": 1}, seed=0)
    assert "aux_pred" not in info2
    with pytest.raises(ValueError, match="aux_train"):
        fit_predict_deep(X[~test], y[~test], g[~test], X[test], aux_train=aux_tr[:3], spec=spec, seed=0)


def test_progress_log_per_epoch_with_validation_during_selection(caplog):
    X, y, g, _ = blobs(n_subjects=4, per_class=1)
    spec = {"kind": "cnn3d", "epochs": {"select": [1, 2], "validation_fraction": 0.25}, "lr": 1e-3}
    with caplog.at_level("INFO", logger="mexflow.models.deep"):
        _, info = fit_predict_deep(X[g != "s3"], y[g != "s3"], g[g != "s3"], X[g == "s3"], spec=spec,
                                   seed=0)
    lines = [r.getMessage() for r in caplog.records]
    selection = [m for m in lines if m.startswith("selection epoch")]
    assert [m.split(" loss ")[0] for m in selection] == ["selection epoch 1/2", "selection epoch 2/2"]
    assert all(" val macro F1 " in m for m in selection)
    final = [m for m in lines if m.startswith("final fit epoch")]
    assert len(final) == info["epochs"] and final[-1].startswith(f"final fit epoch {info['epochs']}/")
    assert final[-1].endswith(f"loss {info['train_loss']:.4f}")
    assert f"cnn3d: {info['epochs']} epochs chosen (val macro F1 {info['val_macro_f1']:.3f})" in lines
