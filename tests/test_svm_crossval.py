"""SVM recognisers (linear, RBF) and the cross-validation driver (leakage, coverage, aux)."""

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
from mexflow.evaluation.protocols import Fold, LeakageError, holdout, logo, loo, loso
from mexflow.models.svm import fit_predict_linear_svm, fit_predict_svm

LABELS = ["negative", "positive", "surprise"]
RBF_SEARCH = partial(fit_predict_svm, C_grid=(0.1, 1.0, 10.0), gamma_grid=("scale", 0.05))
FIT_FNS = pytest.mark.parametrize("fit_fn", [fit_predict_linear_svm, RBF_SEARCH], ids=["linear", "rbf"])


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


@FIT_FNS
def test_inner_model_selection_never_sees_test_subjects(monkeypatch, fit_fn):
    """Spy on the inner splitter, on every scaler (the only way rows reach the SVMs) and on the
    scorer: the search splits and scales only training subjects' rows; the outer test rows are
    scaled once, for the final prediction, after the search."""
    X, y, subj, clips = synthetic(n_subjects=6, per_class=3)
    splits: list[tuple[np.ndarray, np.ndarray]] = []
    events: list[tuple[str, np.ndarray]] = []  # ("fit" | "transform" | "score", rows)

    class SpyGroupKFold(svm_mod.GroupKFold):
        def split(self, X, y=None, groups=None):
            splits.append((np.array(X, copy=True), np.asarray(groups)))
            return super().split(X, y, groups)

    class SpyScaler(svm_mod.StandardScaler):
        def fit(self, X, y=None, sample_weight=None):
            events.append(("fit", np.array(X, copy=True)))
            return super().fit(X, y, sample_weight)

        def transform(self, X, copy=None):
            events.append(("transform", np.array(X, copy=True)))
            return super().transform(X, copy)

    def spy_scorer(estimator, X_eval, y_eval):
        events.append(("score", np.array(X_eval, copy=True)))
        return f1_score(y_eval, estimator.predict(X_eval), average="macro")

    monkeypatch.setattr(svm_mod, "GroupKFold", SpyGroupKFold)
    monkeypatch.setattr(svm_mod, "StandardScaler", SpyScaler)
    monkeypatch.setattr(svm_mod, "SCORING", spy_scorer)

    folds = loso(subj)
    per_fold: list[tuple[set, list]] = []

    def recording_fit_predict(X_tr, y_tr, g_tr, X_te):
        start = len(events)
        y_pred, info = fit_fn(X_tr, y_tr, g_tr, X_te)
        per_fold.append((set(g_tr), events[start:]))
        return y_pred, info

    cross_validate(X, y, subj, clips, folds, recording_fit_predict)

    assert len(splits) == len(folds) == len(per_fold)
    rows = lambda A: {tuple(r) for r in A}  # noqa: E731
    for f, (X_split, g_split), (groups, fold_events) in zip(folds, splits, per_fold):
        test_subjects, test_rows, train_rows = set(subj[f.test]), rows(X[f.test]), rows(X[f.train])
        assert groups.isdisjoint(test_subjects) and set(g_split).isdisjoint(test_subjects)
        assert rows(X_split) == train_rows
        kinds = [k for k, _ in fold_events]
        assert "score" in kinds, "the scorer was called"
        # the last event: the refitted model's scaler transforms the outer test rows, once
        assert kinds[-1] == "transform" and rows(fold_events[-1][1]) == test_rows
        for kind, block in fold_events[:-1]:
            if kind != "score":  # scored rows are scaled inner-test rows of the training subjects
                assert rows(block) <= train_rows and rows(block).isdisjoint(test_rows)


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


@FIT_FNS
def test_svm_deterministic_given_seed(fit_fn):
    X, y, subj, clips = synthetic(n_subjects=5, per_class=3, seed=4)
    fp = partial(fit_fn, seed=11)
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


# --- RBF SVM ----------------------------------------------------------------------------------------

RING_LABELS = ["inner", "middle", "outer"]


def rings(n_subjects=6, per_class=6, seed=0):
    """Concentric classes (radius 1 / 2.5 / 4 in the first two features, plus a noise feature).

    No hyperplane separates them; an RBF kernel does. Returns X (n, 3), y, subjects, clip_ids.
    """
    rng = np.random.default_rng(seed)
    X, y, subj, clips = [], [], [], []
    for s in range(n_subjects):
        for lab, r in zip(RING_LABELS, (1.0, 2.5, 4.0)):
            for k in range(per_class):
                a = rng.uniform(0, 2 * np.pi)
                rr = r + 0.25 * rng.standard_normal()
                X.append([rr * np.cos(a), rr * np.sin(a), rng.standard_normal()])
                y.append(lab)
                subj.append(f"sub{s:02d}")
                clips.append(f"sub{s:02d}/{lab}_{k}")
    return np.asarray(X), np.array(y), np.array(subj), np.array(clips)


def test_rbf_svm_loso_far_above_chance():
    X, y, subj, clips = synthetic()
    table = cross_validate(X, y, subj, clips, loso(subj), fit_predict_svm)
    m = pooled_metrics(table["y_true"], table["y_pred"], LABELS)
    assert m["uf1"] > 0.8 and m["uar"] > 0.8
    assert set(table["C"]) <= {0.1, 1.0, 10.0}
    assert set(table["gamma"]) == {"scale"} and set(table["inner_folds"]) == {3}


def test_rbf_beats_linear_on_concentric_classes():
    X, y, subj, clips = rings()
    folds = logo(subj, 3, seed=0)
    uf1 = {}
    for name, fn in (("linear", fit_predict_linear_svm), ("rbf", fit_predict_svm)):
        table = cross_validate(X, y, subj, clips, folds, fn)
        uf1[name] = pooled_metrics(table["y_true"], table["y_pred"], RING_LABELS)["uf1"]
    # measured: linear 0.34 (chance 1/3), rbf 0.96
    assert uf1["rbf"] > 0.85 and uf1["linear"] < 0.55, uf1


def test_rbf_svm_info_grids_and_errors():
    X, y, subj, _ = synthetic(n_subjects=4, per_class=3)
    train = subj != "sub03"
    y_pred, info = fit_predict_svm(X[train], y[train], subj[train], X[~train],
                                   C_grid=(1.0, 10.0), gamma_grid=(0.01, "scale"))
    assert y_pred.shape == (int((~train).sum()),) and set(y_pred) <= set(LABELS)
    assert set(info) == {"C", "gamma", "inner_folds"} and info["inner_folds"] == 3
    assert info["C"] in (1.0, 10.0) and info["gamma"] in ("0.01", "scale")
    # a single grid point: no search, even with one training subject
    one = subj == "sub00"
    _, info = fit_predict_svm(X[one], y[one], subj[one], X[~one], C_grid=(2,), gamma_grid=(0.5,))
    assert info == {"C": 2.0, "gamma": "0.5", "inner_folds": 0}  # text: one column type per table
    with pytest.raises(ValueError, match="training subject"):
        fit_predict_svm(X[one], y[one], subj[one], X[~one])
    with pytest.raises(ValueError):  # volumes are for the CNNs, not the SVM
        fit_predict_svm(X[train].reshape(-1, 1, X.shape[1]), y[train], subj[train], X[~train])
    with pytest.raises(ValueError):
        fit_predict_svm(X[train], y[train], subj[train], X[~train], gamma_grid=())


# --- the search against GridSearchCV ---------------------------------------------------------------

def _gridsearch(X_tr, y_tr, g_tr, X_te, *, kernel=None, C_grid, gamma_grid=("scale",), inner_folds=3, seed=0):
    """The search as it was: GridSearchCV over the whole StandardScaler -> SVM pipeline (the
    scaler refitted for every candidate on every inner split)."""
    from sklearn.model_selection import GridSearchCV

    if kernel is None:
        pipe, grid = svm_mod.make_pipeline(seed=seed), {"svc__C": [float(c) for c in C_grid]}
    else:
        pipe = svm_mod.make_kernel_pipeline(kernel, seed=seed)
        grid = {"svc__C": [float(c) for c in C_grid],
                "svc__gamma": [g if isinstance(g, str) else float(g) for g in gamma_grid]}
    g_tr = np.asarray([str(g) for g in g_tr], dtype=object)
    search = GridSearchCV(pipe, grid, scoring="f1_macro", refit=True, n_jobs=None, error_score=np.nan,
                          cv=GroupKFold(n_splits=min(inner_folds, np.unique(g_tr).size)))
    search.fit(np.asarray(X_tr, np.float64), np.asarray(y_tr), groups=g_tr)
    if np.all(np.isnan(search.cv_results_["mean_test_score"])):
        raise RuntimeError("every candidate failed")
    best = {k.split("__")[1]: v for k, v in search.best_params_.items()}
    return search.predict(np.asarray(X_te, np.float64)), best


def _random_bank(n_subjects=8, per_subject=10, d=300, seed=0):
    """Histogram-like features of 5 classes, a strong subject identity and a weak class signal
    (the regime of the default banks: LOSO accuracies far from 1, so C and gamma matter)."""
    rng = np.random.default_rng(seed)
    classes = np.array(list("abcde"))
    subj = np.repeat([f"s{i}" for i in range(n_subjects)], per_subject)
    y = classes[rng.integers(0, 5, subj.size)]
    proto, ident = rng.gamma(1.0, 1.0, (5, d)), rng.gamma(1.0, 1.0, (n_subjects, d))
    lam = 0.7 * ident[np.repeat(np.arange(n_subjects), per_subject)] + 0.1 * proto[np.searchsorted(classes, y)]
    X = rng.poisson(5 * (lam + 0.2 * rng.gamma(1.0, 1.0, lam.shape))).astype(np.float32)
    return X / X.sum(1, keepdims=True), y, subj


SEARCHES = {
    "linear": (partial(fit_predict_linear_svm, C_grid=(0.001, 0.01, 0.1, 1.0), seed=2),
               partial(_gridsearch, C_grid=(0.001, 0.01, 0.1, 1.0), seed=2)),
    "rbf": (partial(fit_predict_svm, C_grid=(0.1, 1.0, 10.0), gamma_grid=("scale", 0.1), seed=2),
            partial(_gridsearch, kernel="rbf", C_grid=(0.1, 1.0, 10.0), gamma_grid=("scale", 0.1), seed=2)),
}


@pytest.mark.parametrize("search", list(SEARCHES))
@pytest.mark.parametrize("data", ["bank", "bank_d2000", "synthetic", "rings"])
def test_search_predicts_exactly_what_gridsearchcv_predicted(search, data):
    """Same predictions and the same chosen C (and gamma) in every outer fold, on a fixed seed, as
    GridSearchCV over the pipeline: the scaler fitted once per inner split changes no number."""
    X, y, subj = {"bank": lambda: _random_bank(),
                  "bank_d2000": lambda: _random_bank(n_subjects=6, d=2000, seed=1),
                  "synthetic": lambda: synthetic()[:3],
                  "rings": lambda: rings()[:3]}[data]()
    new, old = SEARCHES[search]
    chosen = set()
    for f in loso(subj) + logo(subj, 3, seed=0):
        y_new, info = new(X[f.train], y[f.train], subj[f.train], X[f.test])
        y_old, best = old(X[f.train], y[f.train], subj[f.train], X[f.test])
        assert list(y_new) == list(y_old), f.name
        assert info["C"] == best["C"] and info.get("gamma", "scale") == str(best.get("gamma", "scale"))
        chosen.add((info["C"], info.get("gamma")))
    if data.startswith("bank"):
        assert len(chosen) > 1, "the folds should not all pick the same candidate"


def test_search_failures_as_gridsearchcv():
    """A fit that fails on an inner split (a training split with one class) scores NaN there, so
    every candidate's mean is NaN: refused, as with GridSearchCV; every fit failing is a
    ValueError in both."""
    X, y, subj = _random_bank(n_subjects=4, per_subject=10, d=50)
    y = y.copy()
    y[subj == "s1"] = "a"  # GroupKFold(2) over s0..s2 trains one split on s1 alone
    train = subj != "s3"
    one_class = np.full(int(train.sum()), "a")
    for new, old in SEARCHES.values():
        for fn in (new, old):
            with pytest.raises(RuntimeError), pytest.warns(Warning):
                fn(X[train], y[train], subj[train], X[~train], inner_folds=2)
            with pytest.raises(ValueError, match="fits failed"):
                fn(X[train], one_class, subj[train], X[~train])


# --- cross_validate: contrast folds, coverage, volumes, aux -----------------------------------------

def _majority(X_tr, y_tr, g_tr, X_te, **kwargs):
    values, counts = np.unique(y_tr, return_counts=True)
    return np.full(len(X_te), values[np.argmax(counts)]), {}


def test_loo_contrast_refused_unless_declared():
    X, y, subj, clips = synthetic(n_subjects=3, per_class=2)
    folds = loo(subj)
    calls = []

    def fp(*args):
        calls.append(1)
        return _majority(*args)

    with pytest.raises(LeakageError, match=r"'loo:0'.*allow_subject_overlap=True"):
        cross_validate(X, y, subj, clips, folds, fp)
    assert calls == [], "refused before any fitting"
    table = cross_validate(X, y, subj, clips, folds, fp, allow_subject_overlap=True)
    assert len(calls) == len(y) == len(table)
    assert list(table["fold"]) == [f"loo:{i}" for i in range(len(y))]


def test_leaky_splits_refused_even_with_allow_subject_overlap():
    """A deliberately leaky split is refused by the disjointness check whatever the caller says."""
    X, y, subj, clips = synthetic(n_subjects=3, per_class=1)
    idx = np.arange(len(y))
    # claims to be subject-independent, but sub00 is on both sides
    claims = [Fold("claims-independent", train=idx[1:], test=idx[:1])]
    with pytest.raises(LeakageError, match="claims-independent.*sub00"):
        cross_validate(X, y, subj, clips, claims, _majority, allow_subject_overlap=True,
                       full_coverage=False)
    # a declared contrast fold that shares a sample
    shared = [Fold("contrast", train=idx, test=idx[:1], subject_independent=False)]
    with pytest.raises(LeakageError, match="contrast.*sample"):
        cross_validate(X, y, subj, clips, shared, _majority, allow_subject_overlap=True,
                       full_coverage=False)


def test_full_coverage_false_for_holdout():
    X, y, subj, clips = synthetic(n_subjects=8, per_class=2)
    folds = holdout(subj, y, seed=0)
    with pytest.raises(ValueError, match="never tested"):
        cross_validate(X, y, subj, clips, folds, fit_predict_linear_svm)
    table = cross_validate(X, y, subj, clips, folds, fit_predict_linear_svm, full_coverage=False)
    test = folds[0].test
    assert list(table.index) == test.tolist()  # only tested samples, in sample order
    assert list(table["clip_id"]) == list(clips[test])
    assert set(table["fold"]) == {folds[0].name} and table["y_pred"].notna().all()
    m = pooled_metrics(table["y_true"], table["y_pred"], LABELS)
    assert m["uf1"] > 0.8
    # a sample tested twice is still refused
    with pytest.raises(ValueError, match="more than one"):
        cross_validate(X, y, subj, clips, folds + folds, _majority, full_coverage=False)


def test_cross_validate_volumes():
    n_subjects, per = 4, 3
    rng = np.random.default_rng(0)
    subj = np.repeat([f"s{i}" for i in range(n_subjects)], per)
    n = subj.size
    X = rng.standard_normal((n, 2, 3, 4, 5)).astype(np.float32)  # (n, C, T, H, W)
    y = np.array(["a", "b", "a"] * n_subjects)
    clips = np.array([f"c{i}" for i in range(n)])
    folds = loso(subj)
    seen = []

    def fp(X_tr, y_tr, g_tr, X_te):
        seen.append((X_tr, X_te))
        return np.full(len(X_te), "a"), {"frames": X_te.shape[2]}

    table = cross_validate(X, y, subj, clips, folds, fp)
    assert len(table) == n and set(table["frames"]) == {3}
    for f, (X_tr, X_te) in zip(folds, seen):
        assert X_tr.shape == (f.train.size, 2, 3, 4, 5) and X_tr.dtype == np.float32
        assert np.array_equal(X_tr, X[f.train]) and np.array_equal(X_te, X[f.test])
    with pytest.raises(ValueError):
        cross_validate(X[:, 0, 0, 0, 0], y, subj, clips, folds, fp)  # 1-D X


def test_cross_validate_aux_passthrough():
    X, y, subj, clips = synthetic(n_subjects=4, per_class=2)
    n = len(y)
    X = np.column_stack([np.arange(n, dtype=float), X])  # column 0 = sample index
    aux = (np.random.default_rng(1).random((n, 4)) < 0.4).astype(np.uint8)
    folds = logo(subj, 2, seed=0)
    seen = {}

    def fp(X_tr, y_tr, g_tr, X_te, *, aux_train):
        train_idx = X_tr[:, 0].astype(int)
        seen[tuple(train_idx)] = aux_train
        test_idx = X_te[:, 0].astype(int)
        info = {"C": 1.0}
        if 0 in test_idx:  # only the fold that tests sample 0 returns AU predictions
            info["aux_pred"] = 1 - aux[test_idx]
        return np.full(len(X_te), y_tr[0]), info

    table = cross_validate(X, y, subj, clips, folds, fp, aux=aux)
    assert list(table.columns) == ["clip_id", "subject", "fold", "y_true", "y_pred", "aux_pred", "C"]
    for f in folds:
        assert np.array_equal(seen[tuple(f.train)], aux[f.train])  # exactly the training rows
    with_aux = next(f for f in folds if 0 in f.test)
    for i in range(n):
        row = table.loc[i, "aux_pred"]
        if i in with_aux.test:
            assert row.dtype == np.uint8 and row.shape == (4,)
            assert np.array_equal(row, 1 - aux[i])
        else:
            assert row is None
    # without aux, fit_predict is called without aux_train (the plain signature works)
    plain = cross_validate(X, y, subj, clips, folds, _majority)
    assert "aux_pred" not in plain.columns


def test_cross_validate_aux_pred_checked():
    X, y, subj, clips = synthetic(n_subjects=2, per_class=1)
    aux = np.zeros((len(y), 3), dtype=np.uint8)
    folds = loso(subj)

    def wrong_shape(X_tr, y_tr, g_tr, X_te, aux_train):
        return np.full(len(X_te), y_tr[0]), {"aux_pred": np.zeros((len(X_te), 2))}

    def not_binary(X_tr, y_tr, g_tr, X_te, aux_train):
        return np.full(len(X_te), y_tr[0]), {"aux_pred": np.full((len(X_te), 3), 0.7)}

    with pytest.raises(ValueError, match="aux_pred"):
        cross_validate(X, y, subj, clips, folds, wrong_shape, aux=aux)
    with pytest.raises(ValueError, match="0/1"):
        cross_validate(X, y, subj, clips, folds, not_binary, aux=aux)
    with pytest.raises(ValueError, match="aux"):
        cross_validate(X, y, subj, clips, folds, wrong_shape, aux=aux[:-1])


def test_progress_log_per_fold_with_the_chosen_hyper_parameters(caplog):
    X, y, subj, clips = synthetic(n_subjects=4, per_class=2)
    with caplog.at_level("INFO"):
        cross_validate(X, y, subj, clips, loso(subj), RBF_SEARCH)
    lines = [r.getMessage() for r in caplog.records]
    starts = [m for m in lines if m.startswith("fold ") and "test subject" in m]
    assert starts[0] == "fold 1/4 (test subject(s) sub00): 18 train / 6 test clips"
    assert len(starts) == 4 and starts[-1].startswith("fold 4/4 (test subject(s) sub03)")
    searches = [m for m in lines if m.startswith("grid search: ")]
    assert len(searches) == 4
    assert all(" inner macro F1 " in m and "6 candidates x 3 inner folds on 3 subjects" in m
               for m in searches)
    done = [m for m in lines if m.startswith("fold ") and " done in " in m]
    assert len(done) == 4 and all(" C=" in m and " gamma=" in m for m in done)


def test_vector_model_evaluations_do_not_load_torch():
    """An SVM evaluate job imports what workflow_scripts/evaluate.py imports and never torch
    (about 1.4 s of CPU per job, 200-odd such jobs in the default matrix)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\n"
            "from mexflow.datasets.index import load_index\n"
            "from mexflow.evaluation.experiment import run_evaluation\n"
            "from mexflow.io import write_parquet_atomic, write_text_atomic\n"
            "from mexflow.magnify.data import reserved_clip_ids\n"
            "from mexflow.workflow_support import setup\n"
            "from mexflow.models.registry import make_fit_predict\n"
            "make_fit_predict({'kind': 'svm'}, 0), make_fit_predict({'kind': 'linear_svm'}, 0)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH")) if p)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_evaluate_job_threads_match_the_model():
    """An evaluate job declares the cores it uses: a deep model's torch threads, one for an SVM
    (liblinear / libsvm); more than one thread on an SVM is refused, not silently wasted."""
    from mexflow.models.registry import job_threads, validate_model

    assert job_threads({"kind": "cnn3d", "threads": 3}) == 3 and job_threads({"kind": "cnn_lstm"}) == 1
    assert job_threads({"kind": "linear_svm"}) == job_threads({"kind": "svm", "threads": 1}) == 1
    validate_model("lin", {"kind": "linear_svm", "threads": 1, "C_grid": [1.0]})
    with pytest.raises(ValueError, match=r"models\.rbf .*one thread"):
        validate_model("rbf", {"kind": "svm", "threads": 2})


@pytest.mark.parametrize("spec, message", [
    ({"kind": "linear_svm", "C_grid": "abc"}, "C_grid 'abc'"),
    ({"kind": "linear_svm", "C_grid": [0.1, "x"]}, "C_grid"),
    ({"kind": "svm", "C_grid": [1.0], "gamma_grid": [-1]}, "gamma_grid"),
    ({"kind": "svm", "C_grid": [1.0], "inner_folds": 1}, "inner_folds 1"),
    ({"kind": "svm", "kernel": "cubic"}, "kernel 'cubic'"),
])
def test_svm_settings_are_checked_when_the_dag_is_built(spec, message):
    """A bad grid names the model entry and the key at parse time (not `could not convert string
    to float` inside an evaluate job)."""
    from mexflow.models.registry import validate_model

    with pytest.raises(ValueError, match=r"models\.m \(kind .*\): " + message.replace("(", r"\(")):
        validate_model("m", spec)
    validate_model("ok", {"kind": "svm", "C_grid": [0.1, 10], "gamma_grid": ["scale", 0.1], "inner_folds": 3})
