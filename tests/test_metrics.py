"""Pooled metrics: hand-computed values, sklearn agreement, pooled vs per-fold averaging, AU F1."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score

from mexflow.evaluation.metrics import au_macro_f1, confusion, pooled_metrics, subject_bootstrap_ci

LABELS = ["negative", "positive", "surprise", "others"]


def test_hand_computed_example():
    y_true = ["negative", "negative", "negative", "positive", "positive", "surprise"]
    y_pred = ["negative", "negative", "positive", "positive", "surprise", "surprise"]
    m = pooled_metrics(y_true, y_pred, LABELS)
    # negative: TP=2, FP=0, FN=1 -> f1 = 4/(4+0+1) = 0.8,   recall = 2/3
    # positive: TP=1, FP=1, FN=1 -> f1 = 2/(2+1+1) = 0.5,   recall = 1/2
    # surprise: TP=1, FP=1, FN=0 -> f1 = 2/(2+1+0) = 2/3,   recall = 1/1
    # others:   2TP+FP+FN = 0 -> excluded from UF1; support 0 -> excluded from UAR
    # accuracy = 4/6; UF1 = (0.8 + 0.5 + 2/3)/3 = 59/90; UAR = (2/3 + 1/2 + 1)/3 = 13/18
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["uf1"] == pytest.approx(59 / 90)
    assert m["uar"] == pytest.approx(13 / 18)
    assert m["n"] == 6
    pc = m["per_class"]
    assert list(pc) == LABELS
    assert pc["negative"] == {"recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert pc["positive"] == {"recall": pytest.approx(0.5), "f1": pytest.approx(0.5), "support": 2}
    assert pc["surprise"] == {"recall": pytest.approx(1.0), "f1": pytest.approx(2 / 3), "support": 1}
    assert pc["others"] == {"recall": None, "f1": None, "support": 0}


def test_predicted_but_absent_class_counts_in_uf1_not_uar():
    y_true = ["a", "a", "b", "b"]
    y_pred = ["a", "c", "b", "b"]
    m = pooled_metrics(y_true, y_pred, ["a", "b", "c"])
    # a: TP=1 FP=0 FN=1 -> f1 = 2/3, recall 1/2; b: TP=2 -> f1 = 1, recall 1
    # c: TP=0 FP=1 FN=0 -> f1 = 0 (counted), support 0 -> not in UAR
    # UF1 = (2/3 + 1 + 0)/3 = 5/9; UAR = (1/2 + 1)/2 = 3/4
    assert m["uf1"] == pytest.approx(5 / 9)
    assert m["uar"] == pytest.approx(3 / 4)
    assert m["per_class"]["c"] == {"recall": None, "f1": 0.0, "support": 0}


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_sklearn_macro_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    labs = np.array(LABELS)
    y_true = labs[rng.integers(0, 4, 200)]
    y_pred = np.where(rng.random(200) < 0.5, y_true, labs[rng.integers(0, 4, 200)])
    m = pooled_metrics(y_true, y_pred, LABELS)
    assert m["uf1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["uar"] == pytest.approx(recall_score(y_true, y_pred, average="macro"))
    assert m["accuracy"] == pytest.approx(np.mean(y_true == y_pred))


def test_pooled_not_averaged_over_folds():
    fold_a = (["a", "a", "b", "b"], ["a", "a", "b", "b"])  # UF1 = 1, UAR = 1
    fold_b = (["a"], ["b"])  # a: f1 0, b: f1 0 -> UF1 = 0; UAR = recall(a) = 0
    per_fold_uf1 = np.mean([pooled_metrics(t, p, ["a", "b"])["uf1"] for t, p in (fold_a, fold_b)])
    per_fold_uar = np.mean([pooled_metrics(t, p, ["a", "b"])["uar"] for t, p in (fold_a, fold_b)])
    assert per_fold_uf1 == pytest.approx(0.5) and per_fold_uar == pytest.approx(0.5)
    m = pooled_metrics(fold_a[0] + fold_b[0], fold_a[1] + fold_b[1], ["a", "b"])
    # pooled: a TP=2 FN=1 -> f1 4/5; b TP=2 FP=1 -> f1 4/5 => UF1 = 0.8
    # recall a = 2/3, b = 1 => UAR = 5/6; accuracy 4/5
    assert m["uf1"] == pytest.approx(0.8)
    assert m["uar"] == pytest.approx(5 / 6)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["uf1"] != pytest.approx(per_fold_uf1)


def test_confusion_layout():
    cm = confusion(["a", "a", "b", "c"], ["a", "b", "b", "a"], ["c", "b", "a"])
    assert list(cm.index) == ["c", "b", "a"] and list(cm.columns) == ["c", "b", "a"]
    assert cm.index.name == "true" and cm.columns.name == "predicted"
    assert cm.dtypes.unique().tolist() == [np.dtype("int64")]
    assert cm.loc["a", "a"] == 1 and cm.loc["a", "b"] == 1 and cm.loc["c", "a"] == 1
    assert cm.to_numpy().sum() == 4


def test_rejects_unknown_labels_and_length_mismatch():
    with pytest.raises(ValueError, match="z"):
        pooled_metrics(["a", "z"], ["a", "a"], ["a", "b"])
    with pytest.raises(ValueError):
        pooled_metrics(["a"], ["a", "b"], ["a", "b"])
    with pytest.raises(ValueError):
        pooled_metrics([], [], ["a"])


def _bootstrap_example(seed=0):
    rng = np.random.default_rng(seed)
    labs = np.array(["a", "b", "c"])
    subjects = np.repeat([f"s{i}" for i in range(8)], rng.integers(2, 7, 8))
    n = subjects.size
    y_true = labs[rng.integers(0, 3, n)]
    y_pred = np.where(rng.random(n) < 0.6, y_true, labs[rng.integers(0, 3, n)])
    return y_true, y_pred, subjects, list(labs)


@pytest.mark.parametrize("metric", ["accuracy", "uf1", "uar"])
def test_subject_bootstrap_matches_naive_loop(metric):
    y_true, y_pred, subjects, labs = _bootstrap_example()
    lo, hi = subject_bootstrap_ci(y_true, y_pred, subjects, labs, metric, n_boot=200, seed=3)
    # naive reference: same draws, explicit pooling of the drawn subjects' clips
    uniq = sorted(set(subjects))
    draws = np.random.default_rng(3).integers(0, len(uniq), size=(200, len(uniq)))
    vals = []
    for row in draws:
        idx = np.concatenate([np.flatnonzero(subjects == uniq[j]) for j in row])
        vals.append(pooled_metrics(y_true[idx], y_pred[idx], labs)[metric])
    ref = np.percentile(vals, [2.5, 97.5])
    assert (lo, hi) == pytest.approx(tuple(ref))
    point = pooled_metrics(y_true, y_pred, labs)[metric]
    assert lo <= point <= hi
    assert (lo, hi) == subject_bootstrap_ci(y_true, y_pred, subjects, labs, metric, n_boot=200, seed=3)


def test_subject_bootstrap_degenerate_and_bad_args():
    y = ["a", "b", "a", "b"]
    assert subject_bootstrap_ci(y, y, ["s1", "s1", "s2", "s2"], ["a", "b"], "uf1", n_boot=50) == (1.0, 1.0)
    with pytest.raises(ValueError):
        subject_bootstrap_ci(y, y, ["s1"] * 4, ["a", "b"], "f2")
    with pytest.raises(ValueError):
        subject_bootstrap_ci(y, y, ["s1"] * 3, ["a", "b"], "uf1")


def test_au_macro_f1_hand_example():
    names = ["AU1", "AU4", "AU12", "AU14"]
    au_true = [[1, 1, 0, 0],
               [0, 1, 0, 0],
               [1, 0, 0, 0],
               [0, 1, 1, 0]]
    au_pred = [[1, 0, 0, 0],
               [0, 1, 1, 0],
               [1, 0, 0, 0],
               [0, 1, 0, 0]]
    r = au_macro_f1(np.array(au_true), np.array(au_pred, dtype=bool), names)
    # AU1: TP=2 FP=0 FN=0 -> 1; AU4: TP=2 FP=0 FN=1 -> 4/5; AU12: TP=0 FP=1 FN=1 -> 0;
    # AU14: never present nor predicted -> undefined, left out of the mean
    assert r["per_au"] == {
        "AU1": {"f1": 1.0, "support": 2, "predicted": 2},
        "AU4": {"f1": pytest.approx(0.8), "support": 3, "predicted": 2},
        "AU12": {"f1": 0.0, "support": 1, "predicted": 1},
        "AU14": {"f1": None, "support": 0, "predicted": 0},
    }
    assert list(r["per_au"]) == names
    assert r["au_macro_f1"] == pytest.approx((1 + 0.8 + 0) / 3)


@pytest.mark.parametrize("seed", range(3))
def test_au_macro_f1_agrees_with_sklearn_per_column(seed):
    rng = np.random.default_rng(seed)
    au_true = (rng.random((60, 6)) < 0.3).astype(np.uint8)
    au_pred = np.where(rng.random((60, 6)) < 0.7, au_true, 1 - au_true).astype(np.int64)
    au_true[:, 5] = 0
    au_pred[:, 5] = 0  # one undefined AU
    names = [f"AU{i}" for i in range(6)]
    r = au_macro_f1(au_true, au_pred, names)
    ref = [f1_score(au_true[:, j], au_pred[:, j], zero_division=0.0) for j in range(5)]
    for j in range(5):
        assert r["per_au"][names[j]]["f1"] == pytest.approx(ref[j])
        assert r["per_au"][names[j]]["support"] == int(au_true[:, j].sum())
    assert r["per_au"]["AU5"]["f1"] is None
    assert r["au_macro_f1"] == pytest.approx(np.mean(ref))


def test_au_macro_f1_none_defined_and_bad_input():
    r = au_macro_f1(np.zeros((3, 2)), np.zeros((3, 2)), ["a", "b"])
    assert np.isnan(r["au_macro_f1"]) and r["per_au"]["a"]["f1"] is None
    with pytest.raises(ValueError, match="0/1"):
        au_macro_f1([[0.5, 1]], [[0, 1]], ["a", "b"])
    with pytest.raises(ValueError, match="shapes"):
        au_macro_f1(np.zeros((3, 2)), np.zeros((2, 2)), ["a", "b"])
    with pytest.raises(ValueError, match="names"):
        au_macro_f1(np.zeros((3, 2)), np.zeros((3, 2)), ["a"])
    with pytest.raises(ValueError, match="2-D"):
        au_macro_f1(np.zeros(3), np.zeros(3), ["a"])
