"""Metrics on predictions pooled over all folds.

All functions take the *pooled* per-sample arrays (every test sample of every
fold, once), never per-fold summaries: averaging per-fold scores weights small
folds (one subject with 2 clips) as much as large ones and is not what the
micro-expression literature's UF1/UAR define.

Definitions (``L`` = ``labels``; counts from the pooled confusion matrix):

* ``accuracy`` = correct / n.
* per-class ``f1_c`` = 2TP / (2TP + FP + FN); undefined when 2TP+FP+FN == 0
  (class neither present nor predicted).
* ``uf1`` (unweighted F1) = mean of ``f1_c`` over the classes where it is
  defined. This equals ``sklearn.metrics.f1_score(average="macro")`` with the
  default ``labels`` (union of classes seen in y_true/y_pred). A class that is
  predicted but never present has f1 = 0 and *is* counted.
* per-class ``recall_c`` = TP / support; undefined when support == 0.
* ``uar`` (unweighted average recall) = mean of ``recall_c`` over classes with
  support > 0.

Undefined per-class values are reported as ``None`` (JSON-friendly).

Auxiliary action-unit (AU) predictions are multi-label: :func:`au_macro_f1`
scores each AU as its own binary problem on the pooled samples
(``f1_a`` = 2TP / (2TP + FP + FN), undefined when the AU is neither present
nor predicted) and averages over the AUs where it is defined.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["pooled_metrics", "confusion", "subject_bootstrap_ci", "au_macro_f1", "METRICS"]

METRICS = ("accuracy", "uf1", "uar")


def _check(y_true, y_pred, labels) -> tuple[np.ndarray, np.ndarray, list[str]]:
    yt = np.asarray([str(v) for v in y_true], dtype=object)
    yp = np.asarray([str(v) for v in y_pred], dtype=object)
    labs = [str(v) for v in labels]
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred lengths differ: {yt.size} vs {yp.size}")
    if yt.size == 0:
        raise ValueError("no samples")
    if len(set(labs)) != len(labs) or not labs:
        raise ValueError(f"labels must be non-empty and unique, got {labs}")
    unknown = sorted((set(yt) | set(yp)) - set(labs))
    if unknown:
        raise ValueError(f"values not in labels: {unknown}")
    return yt, yp, labs


def _confusion_array(yt: np.ndarray, yp: np.ndarray, labs: list[str]) -> np.ndarray:
    pos = {lab: i for i, lab in enumerate(labs)}
    ti = np.fromiter((pos[v] for v in yt), dtype=np.int64, count=yt.size)
    pi = np.fromiter((pos[v] for v in yp), dtype=np.int64, count=yp.size)
    cm = np.zeros((len(labs), len(labs)), dtype=np.int64)
    np.add.at(cm, (ti, pi), 1)
    return cm


def _scores_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from confusion matrices ``cm`` of shape (..., L, L) (rows true).

    Returns float arrays of shape (...) for accuracy/uf1/uar and (..., L) for
    per-class f1/recall (NaN where undefined).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)
    predicted = cm.sum(axis=-2)
    n = support.sum(axis=-1)
    denom = support + predicted  # = 2TP + FP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, np.nan)
        recall = np.where(support > 0, tp / support, np.nan)
        accuracy = tp.sum(axis=-1) / n
        uf1 = np.nansum(f1, axis=-1) / (denom > 0).sum(axis=-1)
        uar = np.nansum(recall, axis=-1) / (support > 0).sum(axis=-1)
    return {"accuracy": accuracy, "uf1": uf1, "uar": uar, "f1": f1, "recall": recall,
            "support": support}


def _none_if_nan(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def pooled_metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, UF1, UAR and per-class scores on pooled predictions.

    Parameters
    ----------
    y_true, y_pred : Sequence[str], length n
        Pooled true / predicted labels of all test samples of all folds.
    labels : Sequence[str]
        The class set and its reporting order; every value of y_true/y_pred
        must be in it (``ValueError`` otherwise).

    Returns
    -------
    dict
        ``{"accuracy": float, "uf1": float, "uar": float, "n": int,
        "per_class": {label: {"recall": float|None, "f1": float|None,
        "support": int}}}``; see the module docstring for definitions.
    """
    yt, yp, labs = _check(y_true, y_pred, labels)
    cm = _confusion_array(yt, yp, labs)
    s = _scores_from_confusion(cm)
    return {
        "accuracy": float(s["accuracy"]),
        "uf1": float(s["uf1"]),
        "uar": float(s["uar"]),
        "n": int(yt.size),
        "per_class": {
            lab: {
                "recall": _none_if_nan(s["recall"][i]),
                "f1": _none_if_nan(s["f1"][i]),
                "support": int(cm[i].sum()),
            }
            for i, lab in enumerate(labs)
        },
    }


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    """Confusion matrix as an ``int64`` DataFrame of shape (L, L).

    Rows are true labels (index name ``"true"``), columns predicted labels
    (columns name ``"predicted"``), both in ``labels`` order.
    """
    yt, yp, labs = _check(y_true, y_pred, labels)
    cm = _confusion_array(yt, yp, labs)
    return pd.DataFrame(
        cm,
        index=pd.Index(labs, name="true"),
        columns=pd.Index(labs, name="predicted"),
    )


def subject_bootstrap_ci(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    subjects: Sequence[str],
    labels: Sequence[str],
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of a pooled metric, resampling *subjects*.

    Each replicate draws as many subjects as there are, with replacement
    (``np.random.default_rng(seed)``), pools all clips of the drawn subjects
    (a subject drawn twice counts twice) and recomputes ``metric``
    (``"accuracy"``, ``"uf1"`` or ``"uar"``). Returns the
    ``((1-level)/2, (1+level)/2)`` percentiles as floats. Clips of a subject
    are correlated, so resampling clips would understate the uncertainty.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    yt, yp, labs = _check(y_true, y_pred, labels)
    subj = np.asarray([str(s) for s in subjects], dtype=object)
    if subj.size != yt.size:
        raise ValueError(f"subjects length {subj.size} != number of samples {yt.size}")
    uniq = sorted(set(subj))
    per_subject = np.stack([_confusion_array(yt[subj == s], yp[subj == s], labs) for s in uniq])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniq), size=(n_boot, len(uniq)))
    weights = np.zeros((n_boot, len(uniq)), dtype=np.int64)
    np.add.at(weights, (np.repeat(np.arange(n_boot), len(uniq)), draws.ravel()), 1)
    boot_cm = np.einsum("bs,sij->bij", weights, per_subject)
    values = _scores_from_confusion(boot_cm)[metric]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.nanpercentile(values, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def au_macro_f1(au_true, au_pred, names: Sequence[str]) -> dict:
    """Macro F1 over action units, each a binary problem on the pooled samples.

    Parameters
    ----------
    au_true, au_pred : array-like, shape (n, A), values in {0, 1}
        Pooled multi-hot AU annotations / predictions (bool or integer).
    names : Sequence[str], length A
        AU names (unique), e.g. ``["AU4", "AU12"]``; the reporting order.

    Returns
    -------
    dict
        ``{"au_macro_f1": float, "per_au": {name: {"f1": float|None,
        "support": int, "predicted": int}}}`` where ``f1`` = 2TP/(2TP+FP+FN)
        (None when the AU is neither present nor predicted), ``support`` = samples
        with the AU, ``predicted`` = samples predicted with it, and
        ``au_macro_f1`` = mean of the defined ``f1`` values (NaN if none is).
    """
    names = [str(v) for v in names]
    arrays = []
    for what, value in (("au_true", au_true), ("au_pred", au_pred)):
        arr = np.asarray(value)
        if arr.ndim != 2:
            raise ValueError(f"{what} must be 2-D (n, A), got shape {arr.shape}")
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{what} must hold only 0/1 values")
        arrays.append(arr.astype(bool))
    t, p = arrays
    if t.shape != p.shape:
        raise ValueError(f"au_true and au_pred shapes differ: {t.shape} vs {p.shape}")
    if t.shape[0] == 0:
        raise ValueError("no samples")
    if len(names) != t.shape[1] or len(set(names)) != len(names):
        raise ValueError(f"names must be {t.shape[1]} unique AU names, got {names}")
    tp = (t & p).sum(axis=0)
    support = t.sum(axis=0)
    predicted = p.sum(axis=0)
    denom = support + predicted  # = 2TP + FP + FN
    f1 = [2 * int(a) / int(d) if d > 0 else None for a, d in zip(tp, denom)]
    defined = [v for v in f1 if v is not None]
    return {
        "au_macro_f1": float(np.mean(defined)) if defined else float("nan"),
        "per_au": {
            name: {"f1": f1[j], "support": int(support[j]), "predicted": int(predicted[j])}
            for j, name in enumerate(names)
        },
    }
