"""Cross-validation driver: run a recogniser over checked folds.

The driver checks, before any fitting, that every fold is subject-disjoint (or,
for a declared contrast protocol, at least sample-disjoint) and that the folds'
test sets cover the samples as the protocol promises (each sample tested
exactly once, or at most once for a hold-out split), then calls
``fit_predict`` with training data only; test labels never leave this module.
Its output is the pooled per-sample prediction table that
:func:`mexflow.evaluation.metrics.pooled_metrics` consumes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .protocols import Fold, LeakageError, assert_sample_disjoint, assert_subject_disjoint

__all__ = ["cross_validate", "FitPredict", "RESERVED_COLUMNS", "AUX_PRED"]

#: ``fit_predict(X_train, y_train, groups_train, X_test[, aux_train=...]) -> (y_pred, info)``
FitPredict = Callable[..., tuple[np.ndarray, dict]]

RESERVED_COLUMNS = ("clip_id", "subject", "fold", "y_true", "y_pred")
#: info key (and table column) of per-sample auxiliary (AU) predictions.
AUX_PRED = "aux_pred"

logger = logging.getLogger(__name__)


def _names(values, shown: int = 6) -> str:
    """Sorted distinct values, the first `shown` written out: "s01, s02 (+3 more)"."""
    uniq = sorted(set(values))
    more = f" (+{len(uniq) - shown} more)" if len(uniq) > shown else ""
    return ", ".join(uniq[:shown]) + more


def _chosen(info: dict) -> str:
    """The scalar entries of a fold's info (chosen hyper-parameters ...) as `k=v` pairs."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in info.items() if np.isscalar(v))


def _check_coverage(n: int, folds: list[Fold], full: bool) -> np.ndarray:
    """Return the per-sample test counts; refuse double testing (and gaps if ``full``)."""
    counts = np.zeros(n, dtype=np.int64)
    for f in folds:
        np.add.at(counts, f.test, 1)
    twice = np.flatnonzero(counts > 1)
    never = np.flatnonzero(counts == 0)
    if twice.size:
        raise ValueError(f"{twice.size} sample(s) tested in more than one fold, e.g. {twice[:5].tolist()}")
    if full and never.size:
        raise ValueError(f"{never.size} sample(s) never tested, e.g. {never[:5].tolist()}")
    return counts


def _check_fold(subj: np.ndarray, f: Fold, allow_subject_overlap: bool) -> None:
    try:
        if f.subject_independent:
            assert_subject_disjoint(subj, f.train, f.test)
            return
        if not allow_subject_overlap:
            raise LeakageError(
                "fold is flagged subject_independent=False (a subject may be on both sides); "
                "it is refused unless the protocol is declared a contrast: pass "
                "allow_subject_overlap=True for a documented contrast protocol such as 'loo'"
            )
        assert_sample_disjoint(subj.size, f.train, f.test)
    except (LeakageError, ValueError) as exc:
        raise type(exc)(f"fold {f.name!r}: {exc}") from exc


def _aux_rows(value, n_test: int, n_aux: int | None, fold: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape[0] != n_test or (n_aux is not None and arr.shape[1] != n_aux):
        want = f"({n_test}, {n_aux if n_aux is not None else 'A'})"
        raise ValueError(f"fold {fold!r}: {AUX_PRED} has shape {arr.shape}, expected {want}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"fold {fold!r}: {AUX_PRED} must be 0/1 (multi-hot)")
    return arr.astype(np.uint8)


def cross_validate(
    X: np.ndarray,
    y: Sequence[str],
    subjects: Sequence[str],
    clip_ids: Sequence[str],
    folds: list[Fold],
    fit_predict: FitPredict,
    *,
    aux: np.ndarray | None = None,
    allow_subject_overlap: bool = False,
    full_coverage: bool = True,
) -> pd.DataFrame:
    """Fit/predict on every fold and return pooled per-sample predictions.

    Parameters
    ----------
    X : np.ndarray, shape (n, ...) with ndim >= 2
        Per-sample inputs, first axis = samples: feature vectors (n, d) or
        volumes such as (n, C, T, H, W). Folds receive ``X[f.train]`` / ``X[f.test]``.
    y, subjects, clip_ids : Sequence[str], length n
        Label, subject id and (unique) clip id of every sample.
    folds : list[Fold]
        Splits. A fold with ``subject_independent=True`` must pass
        :func:`~mexflow.evaluation.protocols.assert_subject_disjoint`; one with
        ``subject_independent=False`` is refused unless ``allow_subject_overlap``.
    fit_predict : callable
        ``fit_predict(X_train, y_train, groups_train, X_test) -> (y_pred, info)``
        where ``groups_train`` are the training samples' subject ids and
        ``info`` is a dict of per-fold scalars (e.g. ``{"C": 0.1}``). When
        ``aux`` is given it is also passed ``aux_train=aux[f.train]``, and
        ``info`` may hold ``"aux_pred"``, an (n_test, A) 0/1 array.
    aux : np.ndarray, shape (n, A), optional
        Auxiliary multi-hot targets (e.g. action units), training rows only.
    allow_subject_overlap : bool
        Accept folds flagged ``subject_independent=False``; pass True only for a
        declared contrast protocol (``loo``). Train and test must still not
        share a sample.
    full_coverage : bool
        True: every sample must be tested exactly once (partitioning protocols).
        False (hold-out): each sample is tested at most once and only the
        tested samples are returned.

    Returns
    -------
    pd.DataFrame
        One row per tested sample, in sample order (index = the sample's
        position in ``X``), columns ``clip_id, subject, fold, y_true, y_pred``,
        then ``aux_pred`` (1-D ``uint8`` array per row, None for folds that did
        not return it; only if some fold did), then the ``info`` keys
        (missing keys -> NaN).

    Raises
    ------
    LeakageError
        If a fold shares a sample between train and test, shares a subject while
        claiming to be subject-independent, or is a flagged contrast fold without
        ``allow_subject_overlap`` (checked for all folds before any fitting, and
        again per fold).
    ValueError
        On shape mismatches, duplicate clip ids, a sample tested in more than
        one fold (or, with ``full_coverage``, in none), a wrong number of
        predictions, or info keys that clash with the reserved columns.
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"X must have a sample axis and at least one more, got shape {X.shape}")
    n = X.shape[0]
    y_arr = np.asarray([str(v) for v in y], dtype=object)
    subj = np.asarray([str(s) for s in subjects], dtype=object)
    clips = np.asarray([str(c) for c in clip_ids], dtype=object)
    for name, arr in (("y", y_arr), ("subjects", subj), ("clip_ids", clips)):
        if arr.size != n:
            raise ValueError(f"{name} has length {arr.size}, X has {n} rows")
    if len(set(clips)) != n:
        raise ValueError("clip_ids are not unique")
    n_aux = None
    if aux is not None:
        aux = np.asarray(aux)
        if aux.ndim != 2 or aux.shape[0] != n:
            raise ValueError(f"aux must have shape ({n}, A), got {aux.shape}")
        n_aux = aux.shape[1]
    if not folds:
        raise ValueError("no folds")

    # Fail fast, before any (possibly expensive) fitting.
    for f in folds:
        _check_fold(subj, f, allow_subject_overlap)
    tested = _check_coverage(n, folds, full_coverage) > 0

    fold_of = np.empty(n, dtype=object)
    y_pred = np.empty(n, dtype=object)
    aux_pred = np.full(n, None, dtype=object)
    any_aux = False
    infos: list[dict] = [{} for _ in range(n)]
    for k, f in enumerate(folds, 1):
        _check_fold(subj, f, allow_subject_overlap)  # belt and braces, right before fitting
        logger.info("fold %d/%d (test subject(s) %s): %d train / %d test clips", k, len(folds),
                    _names(subj[f.test]), f.train.size, f.test.size)
        t0 = time.perf_counter()
        kwargs = {} if aux is None else {"aux_train": aux[f.train].copy()}
        pred, info = fit_predict(X[f.train], y_arr[f.train].copy(), subj[f.train].copy(), X[f.test],
                                 **kwargs)
        pred = np.asarray(pred)
        if pred.shape != (f.test.size,):
            raise ValueError(f"fold {f.name!r}: fit_predict returned {pred.shape} predictions for {f.test.size} test samples")
        info = dict(info or {})
        chosen = _chosen(info)
        logger.info("fold %d/%d done in %.1f s%s", k, len(folds), time.perf_counter() - t0,
                    f": {chosen}" if chosen else "")
        if AUX_PRED in info:
            rows = _aux_rows(info.pop(AUX_PRED), f.test.size, n_aux, f.name)
            for i, row in zip(f.test, rows):
                aux_pred[i] = row
            any_aux = True
        clash = set(info) & set(RESERVED_COLUMNS)
        if clash:
            raise ValueError(f"fold {f.name!r}: info keys clash with reserved columns: {sorted(clash)}")
        fold_of[f.test] = f.name
        y_pred[f.test] = [str(v) for v in pred]
        for i in f.test:
            infos[i] = info

    table = pd.DataFrame(
        {"clip_id": clips, "subject": subj, "fold": fold_of, "y_true": y_arr, "y_pred": y_pred}
    )
    if any_aux:
        table[AUX_PRED] = aux_pred
    info_df = pd.DataFrame.from_records(infos, index=table.index)
    table = pd.concat([table, info_df], axis=1)
    return table if tested.all() else table[tested].copy()
