"""Train / predict the deep recognisers of :mod:`mexflow.models.nets` on one outer fold.

:func:`fit_predict_deep` follows the ``fit_predict`` convention of
:func:`mexflow.evaluation.crossval.cross_validate`: it sees the training samples of a fold (with
labels and subject ids) and the test *inputs* only, and the test inputs are used for nothing but
the final prediction (no statistics, no early stopping, no epoch selection, BatchNorm in eval mode).

Spec (a ``models:`` config entry; every key is optional except ``kind``)
------------------------------------------------------------------------
kind             cnn3d | cnn_lstm | two_stream
input_size       spatial size the caller resized to (checked against X's H and W if given)
epochs           int >= 1, or {select: [10, 20, 30], validation_fraction: 0.25}: the number of
                 epochs is chosen on a seeded subject-level split of the TRAINING subjects (macro
                 F1 on the validation subjects at each candidate, ties -> fewer epochs), then the
                 network is retrained from scratch on all training samples.  Default 30.
batch_size       4            lr               1e-4 (Adam)       weight_decay  0
au_weight        2.0 (loss = CE + au_weight * binary focal loss on the AUs, when there is an
                 AU head and aux_train is given)
focal_gamma      2.0
label_smoothing  0 (0.1 for two_stream)
class_weighted   true: CE class weights = balanced inverse frequencies of the training labels
augment          false | "hflip": each training sample is mirrored left-right with p = 0.5.
hflip_negate     channels whose sign flips under a left-right mirror, REQUIRED with augment:
                 the horizontal flow component u (e.g. [0] for flow_strain (u, v, strain),
                 [3] for apex_flow (R, G, B, u, v)); [] for pure image channels.  A mirrored
                 flow field is (-u(-x), v(-x)); HSV-encoded flow images (flowmap28) cannot be
                 mirrored this way -- leave augment off for them.
eval_batch_size  32 (inference batch; no effect on results)
plus the architecture knobs of :data:`mexflow.models.deep_spec.NET_DEFAULTS` for the kind
(defaults and validation live in :mod:`mexflow.models.deep_spec`, which needs no torch).
Keys in :data:`CALLER_KEYS` are accepted and ignored; any other key is a ValueError.

Determinism: the network is initialised after ``torch.manual_seed(seed)`` and batches / flips are
drawn from a ``torch.Generator`` seeded with ``seed`` (inside ``torch.random.fork_rng``, so the
caller's RNG state is untouched); deterministic algorithms are enabled for the call. Same inputs,
seed and device -> identical predictions.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from torch import nn

from mexflow.evaluation.protocols import assert_subject_disjoint
from mexflow.devices import select_device
from mexflow.models.deep_spec import CALLER_KEYS, TRAIN_DEFAULTS, resolve_spec
from mexflow.params import positive_int
from mexflow.models.nets import build_network

__all__ = ["TRAIN_DEFAULTS", "CALLER_KEYS", "resolve_spec", "fit_predict_deep", "count_parameters",
           "binary_focal_loss", "balanced_class_weights", "hflip_batch", "channel_stats", "train_network",
           "predict_network", "subject_split"]

logger = logging.getLogger(__name__)

_STD_FLOOR = 1e-6


# ------------------------------------------------------------------------------- components

def count_parameters(model: nn.Module) -> int:
    """Number of parameters (all tensors in ``model.parameters()``)."""
    return int(sum(p.numel() for p in model.parameters()))


def binary_focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Mean binary focal loss (Lin et al. 2017, no alpha balancing) over all elements.

    ``FL = -[y (1 - p)^gamma log p + (1 - y) p^gamma log(1 - p)]``, ``p = sigmoid(logit)``;
    gamma = 0 gives binary cross-entropy. logits, targets: same shape, targets in {0, 1}.
    """
    targets = targets.to(logits.dtype)
    log_p, log_1mp = F.logsigmoid(logits), F.logsigmoid(-logits)
    p = torch.exp(log_p)
    loss = -(targets * (1 - p) ** gamma * log_p + (1 - targets) * p ** gamma * log_1mp)
    return loss.mean()


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``w_c = n / (k * n_c)`` for the k classes present in ``y`` (int labels 0..n_classes-1);
    absent classes get 0 (sklearn's "balanced"). float32 (n_classes,)."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes, dtype=np.float64)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w.astype(np.float32)


def channel_stats(X: np.ndarray, chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over (N, T, H, W) of X (N, C, T, H, W), two chunked float64
    passes (``chunk`` clips at a time; default: about 32 MiB of float64 per chunk).
    std < 1e-6 (constant channel) -> 1. Returns float32 (C,), (C,).
    ValueError if X holds NaN or inf."""
    n, C = X.shape[:2]
    if n == 0:
        raise ValueError("no samples")
    if chunk is None:
        chunk = max(1, 32 * 2**20 // (8 * max(1, int(np.prod(X.shape[1:])))))
    m = np.prod(X.shape[2:]) * n
    s = np.zeros(C)
    for a in range(0, n, chunk):
        s += np.asarray(X[a:a + chunk], dtype=np.float64).sum(axis=(0, 2, 3, 4))
    mean = s / m
    ss = np.zeros(C)
    for a in range(0, n, chunk):
        d = np.asarray(X[a:a + chunk], dtype=np.float64) - mean[None, :, None, None, None]
        ss += (d * d).sum(axis=(0, 2, 3, 4))
    std = np.sqrt(ss / m)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
        raise ValueError("training inputs contain NaN or inf")
    std[std < _STD_FLOOR] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def subject_split(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded subject-level split of training samples into (inner-train, validation) indices.

    ``round(fraction * n_subjects)`` subjects (at least 1, at most n_subjects - 1) of the sorted
    subject list, permuted by ``np.random.default_rng(seed)``, go to validation. Checked with
    :func:`assert_subject_disjoint`. ValueError with fewer than 2 subjects.
    """
    groups = np.asarray([str(g) for g in groups], dtype=object)
    uniq = np.array(sorted(set(groups)), dtype=object)
    if uniq.size < 2:
        raise ValueError(f"epoch selection needs >= 2 training subjects, got {uniq.size}")
    n_val = int(min(max(round(fraction * uniq.size), 1), uniq.size - 1))
    val_subj = set(uniq[np.random.default_rng(seed).permutation(uniq.size)[:n_val]])
    is_val = np.array([g in val_subj for g in groups])
    inner, val = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    assert_subject_disjoint(groups, inner, val)
    return inner, val


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[np.ndarray]:
    """Shuffled index batches; a trailing batch of one sample joins the previous batch
    (BatchNorm cannot normalise a single sample once the spatial size has shrunk to 1)."""
    perm = torch.randperm(n, generator=gen).numpy()
    out = [perm[a:a + batch_size] for a in range(0, n, batch_size)]
    if len(out) > 1 and out[-1].size == 1:
        out[-2] = np.concatenate([out[-2], out.pop()])
    return out


def hflip_batch(xb: torch.Tensor, flip: torch.Tensor, negate: Sequence[int]) -> torch.Tensor:
    """Mirror the samples ``flip`` (bool (n,)) of xb (n, C, T, H, W) left-right, negating the
    channels ``negate`` (horizontal flow components: a mirrored flow field is (-u(-x), v(-x)))."""
    out = xb.clone()
    if bool(flip.any()):
        xf = xb[flip].flip(-1)
        if len(negate):
            xf[:, list(negate)] = -xf[:, list(negate)]
        out[flip] = xf
    return out


def train_network(model: nn.Module, X: np.ndarray, y: np.ndarray, aux: np.ndarray | None, cfg: dict,
                  epochs: int, *, stats: tuple[np.ndarray, np.ndarray], gen: torch.Generator,
                  device: torch.device, on_epoch: Callable[[int], float | None] | None = None,
                  phase: str = "") -> float:
    """Train ``model`` in place for ``epochs`` epochs (Adam, cfg's loss settings).

    X (n, C, T, H, W) float32 raw inputs (standardised per batch with ``stats``), y (n,) int64
    class indices, aux (n, A) {0, 1} or None (AU loss only if the model returns AU logits).
    Class weights come from ``y``. ``on_epoch(e)`` is called after epoch e (1-based), with the
    model left in train mode afterwards; a number it returns is logged as the epoch's validation
    macro F1. Each epoch logs one INFO line, `[<phase> ]epoch e/E loss x.xxxx`. Returns the mean
    training loss of the last epoch.
    """
    n_classes = model.heads.emotion.out_features
    weight = (torch.from_numpy(balanced_class_weights(y, n_classes)).to(device)
              if cfg["class_weighted"] else None)
    mean = torch.from_numpy(stats[0]).to(device).view(1, -1, 1, 1, 1)
    std = torch.from_numpy(stats[1]).to(device).view(1, -1, 1, 1, 1)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    negate = list(cfg["hflip_negate"])
    y_t = torch.from_numpy(np.asarray(y, dtype=np.int64))
    aux_t = None if aux is None else torch.from_numpy(np.asarray(aux, dtype=np.float32))
    last = float("nan")
    model.train()
    for e in range(1, epochs + 1):
        total, count = 0.0, 0
        for idx in _batches(len(y), cfg["batch_size"], gen):
            xb = torch.from_numpy(np.asarray(X[idx], dtype=np.float32))
            if cfg["augment"]:
                xb = hflip_batch(xb, torch.rand(len(idx), generator=gen) < 0.5, negate)
            xb = ((xb.to(device) - mean) / std)
            logits, au_logits = model(xb)
            loss = F.cross_entropy(logits, y_t[idx].to(device), weight=weight,
                                   label_smoothing=cfg["label_smoothing"])
            if au_logits is not None and aux_t is not None and cfg["au_weight"] > 0:
                loss = loss + cfg["au_weight"] * binary_focal_loss(au_logits, aux_t[idx].to(device),
                                                                    cfg["focal_gamma"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        last = total / count
        val = None
        if on_epoch is not None:
            val = on_epoch(e)
            model.train()
        logger.info("%sepoch %d/%d loss %.4f%s", f"{phase} " if phase else "", e, epochs, last,
                    "" if val is None else f" val macro F1 {val:.3f}")
    return last


@torch.no_grad()
def predict_network(model: nn.Module, X: np.ndarray, *, stats: tuple[np.ndarray, np.ndarray],
                    device: torch.device, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
    """Eval-mode logits for X (n, C, T, H, W): (n, K) float32 and (n, A) float32 or None.
    Each sample's output is independent of the others (BatchNorm uses running statistics)."""
    model.eval()
    mean = torch.from_numpy(stats[0]).to(device).view(1, -1, 1, 1, 1)
    std = torch.from_numpy(stats[1]).to(device).view(1, -1, 1, 1, 1)
    outs, aus = [], []
    for a in range(0, X.shape[0], batch_size):
        xb = torch.from_numpy(np.asarray(X[a:a + batch_size], dtype=np.float32)).to(device)
        logits, au_logits = model((xb - mean) / std)
        outs.append(logits.float().cpu().numpy())
        if au_logits is not None:
            aus.append(au_logits.float().cpu().numpy())
    K = model.heads.emotion.out_features
    logits = np.concatenate(outs) if outs else np.zeros((0, K), np.float32)
    if model.heads.au is None:
        return logits, None
    A = model.heads.au.out_features
    return logits, (np.concatenate(aus) if aus else np.zeros((0, A), np.float32))


# --------------------------------------------------------------------------------- fit/predict

@contextmanager
def _torch_state(threads: int, device: torch.device):
    """Thread count, deterministic algorithms and a forked RNG for the duration of one call."""
    prev = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        try:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
            yield
        finally:
            torch.set_num_threads(prev[0])
            torch.use_deterministic_algorithms(prev[1], warn_only=prev[2])
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[3], prev[4]


def _fresh(cfg, seed, in_channels, n_classes, n_aus, device):
    """Network initialised from ``seed`` and a shuffling generator seeded with ``seed``."""
    torch.manual_seed(seed)
    model = build_network(cfg, in_channels, n_classes, n_aus).to(device)
    return model, torch.Generator().manual_seed(seed)


def _select_epochs(X, y, groups, aux, cfg, seed, n_classes, n_aus, device) -> tuple[int, dict]:
    """Train on inner-train subjects up to max(select) epochs; macro F1 on validation subjects."""
    sel = cfg["epochs"]
    inner, val = subject_split(groups, sel["validation_fraction"], seed)
    stats = channel_stats(X[inner])
    model, gen = _fresh(cfg, seed, X.shape[1], n_classes, n_aus, device)
    X_val, y_val = X[val], y[val]
    scores: dict[int, float] = {}

    def score(e):
        if e in sel["select"]:
            logits, _ = predict_network(model, X_val, stats=stats, device=device,
                                        batch_size=cfg["eval_batch_size"])
            scores[e] = float(f1_score(y_val, logits.argmax(1), average="macro", zero_division=0))
            return scores[e]
        return None

    logger.info("%s: choosing epochs among %s on %d validation subject(s) (%d clips), training on "
                "%d clips", cfg["kind"], sorted(sel["select"]), len(set(groups[val])), val.size,
                inner.size)
    train_network(model, X[inner], y[inner], None if aux is None else aux[inner], cfg,
                  max(sel["select"]), stats=stats, gen=gen, device=device, on_epoch=score,
                  phase="selection")
    best = min(sel["select"], key=lambda e: (-scores[e], e))
    logger.info("%s: %d epochs chosen (val macro F1 %.3f)", cfg["kind"], best, scores[best])
    info = {"val_macro_f1": scores[best], "n_val_subjects": len(set(groups[val])),
            **{f"val_macro_f1_e{e}": scores[e] for e in sel["select"]}}
    return best, info


def fit_predict_deep(X_train: np.ndarray, y_train: Sequence[str], groups_train: Sequence[str],
                     X_test: np.ndarray, *, aux_train: np.ndarray | None = None, spec: dict,
                     seed: int, threads: int = 1, device: str = "auto") -> tuple[np.ndarray, dict]:
    """Train a deep recogniser on the training samples of a fold and predict the test samples.

    Parameters
    ----------
    X_train : np.ndarray float32 (n_train, C, T, H, W)   (from ``to_model_input``)
    y_train : Sequence[str] (n_train,)  labels
    groups_train : Sequence[str] (n_train,)  subject ids (used only for epoch selection)
    X_test : np.ndarray float32 (n_test, C, T, H, W)  used only for the final prediction
    aux_train : optional (n_train, A) {0, 1} AU targets (columns fixed by the caller)
    spec : model settings, see the module docstring
    seed : int; threads : torch threads for this call (restored afterwards);
    device : "auto" (cuda if available, else cpu), "cpu", "cuda", "cuda:1", ...

    Returns
    -------
    (y_pred, info)
        y_pred : np.ndarray of str (n_test,), labels from y_train's classes.
        info : {"epochs": int, "n_parameters": int, "train_loss": float, and with epoch
            selection "val_macro_f1", "n_val_subjects", "val_macro_f1_e<E>" per candidate};
            plus "aux_pred" (n_test, A) uint8 (sigmoid > 0.5; AU columns never positive in
            training are 0) when aux_train is given and the network has an AU head.
    """
    cfg = resolve_spec(spec)
    threads = positive_int(threads, "threads")
    dev = select_device(device)
    if not isinstance(X_train, np.ndarray) or not isinstance(X_test, np.ndarray):
        raise ValueError("X_train and X_test must be numpy arrays")
    if X_train.ndim != 5 or X_test.ndim != 5 or X_train.shape[1:] != X_test.shape[1:]:
        raise ValueError(f"X_train and X_test must be (n, C, T, H, W) with equal C, T, H, W; got "
                         f"{X_train.shape} and {X_test.shape}")
    if cfg["input_size"] is not None and X_train.shape[3:] != (cfg["input_size"],) * 2:
        raise ValueError(f"input_size {cfg['input_size']} but inputs are {X_train.shape[3:]}")
    bad = [c for c in cfg["hflip_negate"] if not 0 <= c < X_train.shape[1]]
    if bad:
        raise ValueError(f"hflip_negate channels {bad} out of range for C = {X_train.shape[1]}")
    y_str = np.asarray([str(v) for v in y_train], dtype=object)
    groups = np.asarray([str(g) for g in groups_train], dtype=object)
    n = X_train.shape[0]
    if not (y_str.size == groups.size == n) or n == 0:
        raise ValueError(f"X_train ({n}), y_train ({y_str.size}) and groups_train ({groups.size}) "
                         "lengths differ or are 0")
    classes, y = np.unique(y_str, return_inverse=True)
    n_aus = 0
    if aux_train is not None:
        aux_train = np.asarray(aux_train)
        if aux_train.ndim != 2 or aux_train.shape[0] != n:
            raise ValueError(f"aux_train must be (n_train, A) = ({n}, A), got {aux_train.shape}")
        if not np.isin(aux_train, (0, 1)).all():
            raise ValueError("aux_train must hold only 0 and 1")
        n_aus = aux_train.shape[1]

    t0 = time.perf_counter()
    info: dict = {}
    with _torch_state(threads, dev):
        if isinstance(cfg["epochs"], dict):
            epochs, sel_info = _select_epochs(X_train, y, groups, aux_train, cfg, seed, classes.size,
                                              n_aus, dev)
            info.update(sel_info)
        else:
            epochs = cfg["epochs"]
        t1 = time.perf_counter()
        stats = channel_stats(X_train)
        model, gen = _fresh(cfg, seed, X_train.shape[1], classes.size, n_aus, dev)
        loss = train_network(model, X_train, y, aux_train, cfg, epochs, stats=stats, gen=gen, device=dev,
                             phase="final fit")
        t2 = time.perf_counter()
        logits, au_logits = predict_network(model, X_test, stats=stats, device=dev,
                                            batch_size=cfg["eval_batch_size"])
    if not np.isfinite(logits).all():
        logger.warning("%s: non-finite logits for %d test clip(s) (NaN or inf in X_test?)", cfg["kind"],
                       int((~np.isfinite(logits).all(axis=1)).sum()))
    logger.info("%s: selection %.1f s, final fit %d epochs on %d clips %.1f s, predict %d clips %.2f s (%s, %d threads)",
                cfg["kind"], t1 - t0, epochs, n, t2 - t1, X_test.shape[0], time.perf_counter() - t2,
                dev, threads)
    info = {"epochs": int(epochs), "n_parameters": count_parameters(model), "train_loss": float(loss),
            **info}
    if au_logits is not None:
        aux_pred = (au_logits > 0).astype(np.uint8)
        aux_pred[:, ~aux_train.astype(bool).any(axis=0)] = 0
        info["aux_pred"] = aux_pred
    return classes[logits.argmax(axis=1)].astype(str), info
