"""Linear-SVM recogniser under subject-independent cross-validation."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold

import mexflow.models.svm as svm_mod
from mexflow.evaluation.crossval import cross_validate
from mexflow.evaluation.metrics import pooled_metrics
from mexflow.evaluation.protocols import Fold, LeakageError, logo, loso
from mexflow.models.svm import fit_predict_linear_svm

LABELS = ["negative", "positive", "surprise"]


def synthetic(n_subjects=8, per_class=4, d=10, seed=0):
    """Class-separable features plus a per-subject offset and a constant column.

    Returns X (n, d+1) float64, y (n,) str, subjects (n,) str, clip_ids (n,) str.
    """
    rng = np.random.default_rng(seed)
    means = 2.5 * rng.standard_normal((len(LABELS), d))
    X, y, subj, clips = [], [], [], []
    for s in range(n_subjects):
        offset = 1.5 * rng.standard_normal(d)  # subject identity, shared by all their clips
        for c, lab in enumerate(LABELS):
            for k in range(per_class):
                X.append(means[c] + offset + 0.7 * rng.standard_normal(d))
                y.append(lab)
                subj.append(f"sub{s:02d}")
                clips.append(f"sub{s:02d}/{lab}_{k}")
    X = np.column_stack([np.asarray(X), np.full(len(X), 3.0)])  # constant feature
    return X, np.array(y), np.array(subj), np.array(clips)


def test_linear_svm_loso_far_above_chance():
    X, y, subj, clips = synthetic()
    table = cross_validate(X, y, subj, clips, loso(subj), fit_predict_linear_svm)
    m = pooled_metrics(table["y_true"], table["y_pred"], LABELS)
    assert m["uf1"] > 0.8 and m["uar"] > 0.8  # chance is 1/3
    assert set(table["C"]) <= {0.01, 0.1, 1.0, 10.0}


def test_cross_validate_table_layout():
    X, y, subj, clips = synthetic(n_subjects=4, per_class=2)
    folds = logo(subj, 2, seed=0)
    table = cross_validate(X, y, subj, clips, folds, fit_predict_linear_svm)
    assert list(table.columns[:5]) == ["clip_id", "subject", "fold", "y_true", "y_pred"]
    assert {"C", "inner_folds"} <= set(table.columns)
    assert len(table) == len(y)
    assert list(table["clip_id"]) == list(clips)  # sample order
    assert list(table["y_true"]) == list(y)
    for f in folds:
        assert set(table.loc[f.test, "fold"]) == {f.name}


def test_inner_model_selection_never_sees_test_subjects(monkeypatch):
    """Spy on GridSearchCV.fit and on the scorer: only training subjects' rows reach them."""
    X, y, subj, clips = synthetic(n_subjects=6, per_class=3)
    fits: list[tuple[np.ndarray, np.ndarray]] = []
    scored_rows: list[np.ndarray] = []

    class SpyGridSearchCV(svm_mod.GridSearchCV):
        def fit(self, X, y=None, **params):
            fits.append((np.array(X, copy=True), np.asarray(params["groups"])))
            return super().fit(X, y, **params)

    def spy_scorer(estimator, X_eval, y_eval):
        scored_rows.append(np.array(X_eval, copy=True))
        return f1_score(y_eval, estimator.predict(X_eval), average="macro")

    monkeypatch.setattr(svm_mod, "GridSearchCV", SpyGridSearchCV)
    monkeypatch.setattr(svm_mod, "SCORING", spy_scorer)

    folds = loso(subj)
    seen_groups: list[set] = []

    def recording_fit_predict(X_tr, y_tr, g_tr, X_te):
        seen_groups.append(set(g_tr))
        start = len(scored_rows)
        y_pred, info = fit_predict_linear_svm(X_tr, y_tr, g_tr, X_te)
        fold_scored.append(scored_rows[start:])
        return y_pred, info

    fold_scored: list[list[np.ndarray]] = []
    cross_validate(X, y, subj, clips, folds, recording_fit_predict)

    assert len(fits) == len(folds) == len(seen_groups)
    rows = lambda A: {tuple(r) for r in A}  # noqa: E731
    for f, (X_fit, g_fit), groups, scored in zip(folds, fits, seen_groups, fold_scored):
        test_subjects = set(subj[f.test])
        assert groups.isdisjoint(test_subjects)
        assert set(g_fit).isdisjoint(test_subjects)
        test_rows = rows(X[f.test])
        assert rows(X_fit).isdisjoint(test_rows)
        assert rows(X_fit) == rows(X[f.train])
        assert scored, "the scorer was called"
        for block in scored:
            assert rows(block).isdisjoint(test_rows)
            assert rows(block) <= rows(X[f.train])


def test_clip_grouped_split_refused_before_fitting():
    X, y, subj, clips = synthetic(n_subjects=5, per_class=2)
    leaky = [
        Fold(f"clip-logo:{g}", train=tr, test=te)
        for g, (tr, te) in enumerate(GroupKFold(n_splits=5).split(X, groups=clips))
    ]
    calls = []

    def fp(*args):
        calls.append(args)
        return fit_predict_linear_svm(*args)

    with pytest.raises(LeakageError):
        cross_validate(X, y, subj, clips, leaky, fp)
    assert calls == [], "no fitting happens on a leaky split"


def test_cross_validate_requires_exact_test_coverage():
    X, y, subj, clips = synthetic(n_subjects=3, per_class=1)
    folds = loso(subj)
    dummy = lambda X_tr, y_tr, g_tr, X_te: (np.full(len(X_te), y_tr[0]), {})  # noqa: E731
    with pytest.raises(ValueError, match="never"):
        cross_validate(X, y, subj, clips, folds[:-1], dummy)
    with pytest.raises(ValueError, match="more than one"):
        cross_validate(X, y, subj, clips, folds + folds[:1], dummy)
    table = cross_validate(X, y, subj, clips, folds, dummy)
    assert list(table.columns) == ["clip_id", "subject", "fold", "y_true", "y_pred"]


def test_svm_deterministic_given_seed():
    X, y, subj, clips = synthetic(n_subjects=5, per_class=3, seed=4)
    fp = partial(fit_predict_linear_svm, seed=11)
    a = cross_validate(X, y, subj, clips, loso(subj), fp)
    b = cross_validate(X, y, subj, clips, loso(subj), fp)
    pd.testing.assert_frame_equal(a, b)


def test_svm_small_training_sets_and_single_C():
    X, y, subj, _ = synthetic(n_subjects=3, per_class=3)
    train = subj != "sub02"
    # 2 training subjects < inner_folds=3 -> inner CV with 2 folds
    y_pred, info = fit_predict_linear_svm(X[train], y[train], subj[train], X[~train], inner_folds=3)
    assert y_pred.shape == (int((~train).sum()),) and info["inner_folds"] == 2
    # a single training subject: search impossible, single C is fine
    one = subj == "sub00"
    with pytest.raises(ValueError):
        fit_predict_linear_svm(X[one], y[one], subj[one], X[~one])
    y_pred, info = fit_predict_linear_svm(X[one], y[one], subj[one], X[~one], C_grid=(0.5,))
    assert info == {"C": 0.5, "inner_folds": 0} and set(y_pred) <= set(LABELS)
