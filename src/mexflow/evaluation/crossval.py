"""Cross-validation driver: run a recogniser over subject-independent folds.

The driver checks, before any fitting, that every fold is subject-disjoint and
that the folds' test sets partition the samples (each sample tested exactly
once), then calls ``fit_predict`` with training data only; test labels never
leave this module. Its output is the pooled per-sample prediction table that
:func:`mexflow.evaluation.metrics.pooled_metrics` consumes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .protocols import Fold, LeakageError, assert_subject_disjoint

__all__ = ["cross_validate", "FitPredict", "RESERVED_COLUMNS"]

#: ``fit_predict(X_train, y_train, groups_train, X_test) -> (y_pred, info)``
FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, dict]]

RESERVED_COLUMNS = ("clip_id", "subject", "fold", "y_true", "y_pred")


def _check_coverage(n: int, folds: list[Fold]) -> None:
    counts = np.zeros(n, dtype=np.int64)
    for f in folds:
        np.add.at(counts, f.test, 1)
    twice = np.flatnonzero(counts > 1)
    never = np.flatnonzero(counts == 0)
    if twice.size:
        raise ValueError(f"{twice.size} sample(s) tested in more than one fold, e.g. {twice[:5].tolist()}")
    if never.size:
        raise ValueError(f"{never.size} sample(s) never tested, e.g. {never[:5].tolist()}")


def cross_validate(
    X: np.ndarray,
    y: Sequence[str],
    subjects: Sequence[str],
    clip_ids: Sequence[str],
    folds: list[Fold],
    fit_predict: FitPredict,
) -> pd.DataFrame:
    """Fit/predict on every fold and return pooled per-sample predictions.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
        Feature matrix.
    y, subjects, clip_ids : Sequence[str], length n
        Label, subject id and (unique) clip id of every sample.
    folds : list[Fold]
        Splits whose test sets partition ``range(n)`` (as LOSO/LOGO do).
    fit_predict : callable
        ``fit_predict(X_train, y_train, groups_train, X_test) -> (y_pred, info)``
        where ``groups_train`` are the training samples' subject ids and
        ``info`` is a dict of scalars (e.g. ``{"C": 0.1}``).

    Returns
    -------
    pd.DataFrame
        One row per sample, in sample order, columns ``clip_id, subject, fold,
        y_true, y_pred`` followed by the ``info`` keys (missing keys -> NaN).

    Raises
    ------
    LeakageError
        If any fold shares a subject or a sample between train and test
        (checked for all folds before any fitting, and again per fold).
    ValueError
        On shape mismatches, duplicate clip ids, or if a sample is tested in
        more than one fold or in none.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
    n = X.shape[0]
    y_arr = np.asarray([str(v) for v in y], dtype=object)
    subj = np.asarray([str(s) for s in subjects], dtype=object)
    clips = np.asarray([str(c) for c in clip_ids], dtype=object)
    for name, arr in (("y", y_arr), ("subjects", subj), ("clip_ids", clips)):
        if arr.size != n:
            raise ValueError(f"{name} has length {arr.size}, X has {n} rows")
    if len(set(clips)) != n:
        raise ValueError("clip_ids are not unique")
    if not folds:
        raise ValueError("no folds")

    # Fail fast, before any (possibly expensive) fitting.
    for f in folds:
        try:
            assert_subject_disjoint(subj, f.train, f.test)
        except (LeakageError, ValueError) as exc:
            raise type(exc)(f"fold {f.name!r}: {exc}") from exc
    _check_coverage(n, folds)

    fold_of = np.empty(n, dtype=object)
    y_pred = np.empty(n, dtype=object)
    infos: list[dict] = [{} for _ in range(n)]
    for f in folds:
        assert_subject_disjoint(subj, f.train, f.test)  # belt and braces, right before fitting
        pred, info = fit_predict(X[f.train], y_arr[f.train].copy(), subj[f.train].copy(), X[f.test])
        pred = np.asarray(pred)
        if pred.shape != (f.test.size,):
            raise ValueError(f"fold {f.name!r}: fit_predict returned {pred.shape} predictions for {f.test.size} test samples")
        info = dict(info or {})
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
    info_df = pd.DataFrame.from_records(infos, index=table.index)
    return pd.concat([table, info_df], axis=1)
