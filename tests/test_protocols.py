"""Split protocols: LOSO / LOGO / LOCO / hold-out, the LOO contrast, and the leakage guard."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mexflow.evaluation.protocols import (
    Fold,
    LeakageError,
    assert_subject_disjoint,
    holdout,
    logo,
    loo,
    loso,
    make_folds,
    protocol_properties,
)


def _subjects(counts: dict[str, int], seed: int = 0) -> list[str]:
    """Per-sample subject ids with the given clip counts, in shuffled sample order."""
    subj = [s for s, c in counts.items() for _ in range(c)]
    rng = np.random.default_rng(seed)
    return [subj[i] for i in rng.permutation(len(subj))]


UNEVEN = {f"casme2/sub{i:02d}": c for i, c in enumerate([9, 3, 14, 5, 5, 1, 7, 12, 2, 6, 4, 8, 3, 10], 1)}
EQUAL = {f"s{i:02d}": 4 for i in range(20)}  # many ties -> the seed decides the grouping


def _check_partition(subjects, folds):
    subj = np.asarray(subjects)
    n = subj.size
    tested = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(tested), np.arange(n)), "each sample tested exactly once"
    for f in folds:
        assert set(subj[f.train]).isdisjoint(subj[f.test])
        assert np.array_equal(np.sort(np.concatenate([f.train, f.test])), np.arange(n))
        assert f.train.dtype == np.int64 and f.test.dtype == np.int64


def _grouping(subjects, folds):
    subj = np.asarray(subjects)
    return sorted(tuple(sorted(set(subj[f.test]))) for f in folds)


def test_loso_one_fold_per_subject_sorted():
    subjects = _subjects(UNEVEN)
    folds = loso(subjects)
    assert [f.name for f in folds] == [f"loso:{s}" for s in sorted(UNEVEN)]
    _check_partition(subjects, folds)
    subj = np.asarray(subjects)
    for f in folds:
        (only,) = set(subj[f.test])
        assert f.name == f"loso:{only}"
        assert f.test.size == UNEVEN[only]


def test_loso_needs_two_subjects():
    with pytest.raises(ValueError):
        loso(["a", "a", "a"])


@pytest.mark.parametrize("k", [2, 3, 5, 14])
def test_logo_partition_and_balance(k):
    subjects = _subjects(UNEVEN)
    folds = logo(subjects, k, seed=7)
    assert [f.name for f in folds] == [f"logo:{g}" for g in range(k)]
    _check_partition(subjects, folds)
    sizes = [f.test.size for f in folds]
    assert max(sizes) - min(sizes) <= max(UNEVEN.values())
    assert all(s > 0 for s in sizes)


def test_logo_deterministic_and_seed_dependent():
    subjects = _subjects(EQUAL)
    a = logo(subjects, 4, seed=1)
    b = logo(subjects, 4, seed=1)
    assert [f.name for f in a] == [f.name for f in b]
    for fa, fb in zip(a, b):
        assert np.array_equal(fa.test, fb.test) and np.array_equal(fa.train, fb.train)
    groupings = {tuple(_grouping(subjects, logo(subjects, 4, seed=s))) for s in range(5)}
    assert len(groupings) > 1, "different seeds should give different groupings"
    # equal clip counts -> perfectly balanced groups
    assert {f.test.size for f in a} == {20}


def test_logo_rejects_bad_k():
    subjects = _subjects({"a": 2, "b": 2, "c": 2})
    with pytest.raises(ValueError):
        logo(subjects, 1, seed=0)
    with pytest.raises(ValueError):
        logo(subjects, 4, seed=0)
    logo(subjects, 3, seed=0)  # k == n subjects is LOSO-like and fine


def test_make_folds_dispatch():
    subjects = _subjects(UNEVEN)
    assert [f.name for f in make_folds({"kind": "loso"}, subjects, seed=0)] == [
        f.name for f in loso(subjects)
    ]
    folds = make_folds({"kind": "logo", "groups": 3}, subjects, seed=3)
    ref = logo(subjects, 3, seed=3)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(folds, ref))
    with pytest.raises(ValueError, match="kfold"):
        make_folds({"kind": "kfold"}, subjects, seed=0)
    with pytest.raises(ValueError):
        make_folds({"kind": "logo"}, subjects, seed=0)


def test_loco_one_fold_per_corpus_and_subject_disjoint():
    subjects = ["casme2/s1", "casme2/s1", "casme2/s2", "samm/006", "samm/007", "smic/s1"]
    corpora = ["casme2", "casme2", "casme2", "samm", "samm", "smic"]
    folds = make_folds({"kind": "loco"}, subjects, seed=0, corpora=corpora)
    assert [f.name for f in folds] == ["loco:casme2", "loco:samm", "loco:smic"]
    assert [f.test.tolist() for f in folds] == [[0, 1, 2], [3, 4], [5]]
    for f in folds:
        assert sorted(f.train.tolist() + f.test.tolist()) == list(range(6))


def test_loco_refuses_unnamespaced_subject_and_single_corpus():
    # "s1" under two corpora would put the same (un-namespaced) id on both sides of a fold.
    with pytest.raises(LeakageError, match="several corpora"):
        make_folds({"kind": "loco"}, ["s1", "s2", "s1"], seed=0, corpora=["a", "a", "b"])
    with pytest.raises(ValueError, match="at least 2 corpora"):
        make_folds({"kind": "loco"}, ["a/1", "a/2"], seed=0, corpora=["a", "a"])
    with pytest.raises(ValueError, match="corpus"):
        make_folds({"kind": "loco"}, ["a/1", "b/2"], seed=0)


def test_assert_subject_disjoint_accepts_clean_split():
    subjects = ["a", "a", "b", "c", "c"]
    assert_subject_disjoint(subjects, [0, 1, 2], [3, 4])


def test_assert_subject_disjoint_refuses_shared_subject():
    subjects = ["a", "a", "b", "c", "c"]
    with pytest.raises(LeakageError, match="c"):
        assert_subject_disjoint(subjects, [0, 1, 3], [2, 4])


def test_assert_subject_disjoint_refuses_shared_sample_and_empty():
    subjects = ["a", "a", "b"]
    with pytest.raises(LeakageError):
        assert_subject_disjoint(subjects, [0, 1], [1, 2])
    with pytest.raises(ValueError):
        assert_subject_disjoint(subjects, [], [2])
    with pytest.raises(ValueError):
        assert_subject_disjoint(subjects, [0, 1], [])
    with pytest.raises(ValueError):  # boolean masks are ambiguous, refused
        assert_subject_disjoint(subjects, np.array([True, True, False]), [2])


def test_clip_grouped_logo_is_refused():
    """The published 'LOGO' bug: groups formed over clips, not subjects."""
    from sklearn.model_selection import GroupKFold

    subjects = _subjects(UNEVEN)
    clip_ids = [f"clip{i:03d}" for i in range(len(subjects))]
    X = np.zeros((len(subjects), 1))
    leaky = [
        Fold(f"clip-logo:{g}", train=tr, test=te)
        for g, (tr, te) in enumerate(GroupKFold(n_splits=5).split(X, groups=clip_ids))
    ]
    with pytest.raises(LeakageError, match="subject"):
        for f in leaky:
            assert_subject_disjoint(subjects, f.train, f.test)


def test_fold_arrays_are_readonly_ints():
    f = Fold("x", train=[0, 1], test=np.array([2], dtype=np.int32))
    assert f.train.dtype == np.int64 and f.test.dtype == np.int64
    with pytest.raises(ValueError):
        f.train[0] = 5


# --- hold-out (Emotion Engine subject-stratified sampler) ---------------------------------------

BALANCED = {f"s{i:02d}": {"neg": 2, "pos": 2, "sur": 2} for i in range(10)}  # 10 x 6 clips

# CASME II-like: 246 clips, 26 subjects (1..29 clips each), classes spread unevenly over subjects.
CASME_CLASSES = ["others", "disgust", "happiness", "repression", "surprise"]
CASME_COUNTS = [  # per subject: others, disgust, happiness, repression, surprise
    [8, 0, 0, 1, 0], [2, 0, 0, 0, 0], [1, 1, 0, 2, 0], [3, 4, 10, 0, 0], [1, 0, 0, 1, 1],
    [1, 0, 2, 3, 0], [1, 0, 0, 0, 0], [1, 1, 3, 0, 2], [2, 1, 1, 2, 3], [4, 4, 1, 1, 0],
    [3, 2, 2, 1, 0], [1, 0, 0, 0, 0], [4, 4, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 1, 0],
    [1, 8, 0, 0, 0], [7, 0, 2, 2, 2], [1, 6, 1, 0, 1], [6, 0, 0, 1, 1], [2, 10, 1, 0, 2],
    [18, 0, 0, 0, 0], [5, 12, 0, 3, 5], [7, 9, 1, 1, 0], [2, 0, 0, 1, 0], [14, 0, 8, 1, 6],
    [2, 1, 0, 6, 2],
]
CASME_LIKE = {f"sub{i:02d}": dict(zip(CASME_CLASSES, row)) for i, row in enumerate(CASME_COUNTS, 1)}


def _labelled(spec: dict[str, dict[str, int]], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(subjects, labels) per sample from {subject: {label: count}}, in shuffled sample order."""
    pairs = [(s, lab) for s, per in spec.items() for lab, c in per.items() for _ in range(c)]
    order = np.random.default_rng(seed).permutation(len(pairs))
    return (np.array([pairs[i][0] for i in order], dtype=object),
            np.array([pairs[i][1] for i in order], dtype=object))


def _l1(labels, test) -> float:
    labels = np.asarray(labels)
    classes = sorted(set(labels))
    p_all = np.array([np.mean(labels == c) for c in classes])
    p_test = np.array([np.mean(labels[test] == c) for c in classes])
    return float(np.abs(p_test - p_all).sum())


def test_casme_like_fixture_matches_casme2_class_counts():
    subjects, labels = _labelled(CASME_LIKE)
    assert len(CASME_LIKE) == 26 and subjects.size == 246
    assert {c: int((labels == c).sum()) for c in CASME_CLASSES} == {
        "others": 99, "disgust": 63, "happiness": 32, "repression": 27, "surprise": 25}
    sizes = [sum(per.values()) for per in CASME_LIKE.values()]
    assert min(sizes) == 1 and max(sizes) == 29


@pytest.mark.parametrize("spec", [BALANCED, CASME_LIKE], ids=["balanced10", "casme_like26"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_holdout_meets_constraints(spec, seed):
    subjects, labels = _labelled(spec)
    (fold,) = holdout(subjects, labels, seed)
    n = subjects.size
    assert fold.subject_independent
    assert_subject_disjoint(subjects, fold.train, fold.test)
    assert np.array_equal(np.sort(np.concatenate([fold.train, fold.test])), np.arange(n))
    frac = fold.test.size / n
    assert 0.10 - 1e-12 <= frac <= 0.20 + 1e-12
    assert _l1(labels, fold.test) <= 0.1 + 1e-12
    test_subjects = sorted(set(subjects[fold.test]))
    assert fold.name == "holdout:" + "+".join(test_subjects)
    # whole subjects: every clip of a test subject is tested
    assert fold.test.size == sum(sum(spec[s].values()) for s in test_subjects)


@pytest.mark.parametrize("spec", [BALANCED, CASME_LIKE], ids=["balanced10", "casme_like26"])
def test_holdout_deterministic_and_seed_dependent(spec):
    subjects, labels = _labelled(spec)
    a, b = holdout(subjects, labels, 5)[0], holdout(subjects, labels, 5)[0]
    assert a.name == b.name and np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train)
    names = {holdout(subjects, labels, seed)[0].name for seed in range(6)}
    assert len(names) > 1, "different seeds should be able to give different test subjects"


def test_holdout_prefers_smallest_l1_then_closest_fraction():
    # 20 clips (10 a, 10 b), window 0.1 +- 0 = exactly 2 clips: only S1, S2 or S3 fit alone.
    spec = {"S1": {"a": 2}, "S2": {"a": 1, "b": 1}, "S3": {"b": 2},
            "S4": {"a": 4, "b": 3}, "S5": {"a": 3, "b": 4}}
    subjects, labels = _labelled(spec)
    for seed in range(5):  # L1: S1 = S3 = 1.0, S2 = 0 -> S2 always
        (f,) = holdout(subjects, labels, seed, test_fraction=0.1, tolerance=0.0, max_l1=2.0, trials=50)
        assert f.name == "holdout:S2"
    # 40 clips, window [0.1, 0.2]: P (4 clips, 0.10) and Q (6 clips, 0.15) both have L1 = 0;
    # R and T (15 clips) never fit. Q is closer to test_fraction = 0.15.
    spec = {"P": {"a": 2, "b": 2}, "Q": {"a": 3, "b": 3}, "R": {"a": 8, "b": 7}, "T": {"a": 7, "b": 8}}
    subjects, labels = _labelled(spec)
    for seed in range(5):
        (f,) = holdout(subjects, labels, seed, trials=50)
        assert f.name == "holdout:Q"


def _best_reached(message: str) -> tuple[float, int, int, str]:
    m = re.search(r"best reached: test fraction ([\d.]+) \((\d+)/(\d+) clips\), L1 (\S+)", message)
    assert m, message
    return float(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


def test_holdout_infeasible_reports_numbers():
    subjects, labels = _labelled(CASME_LIKE)
    with pytest.raises(ValueError, match=r"0\.15 ± 0\.05.*L1 <= 0\.01") as err:
        holdout(subjects, labels, 0, max_l1=0.01)
    frac, m, n, l1 = _best_reached(str(err.value))
    assert n == 246 and 0.1 <= frac <= 0.2 and frac == pytest.approx(m / n, abs=1e-4)
    assert 0.01 < float(l1) <= 0.1  # the feasible default bound is met, the strict one is not
    # every subject is too large for the window: nothing can be chosen at all
    subjects, labels = _labelled({"A": {"x": 5, "y": 5}, "B": {"x": 5, "y": 5}})
    with pytest.raises(ValueError, match="no subject set") as err:
        holdout(subjects, labels, 0, trials=10)
    assert _best_reached(str(err.value)) == (0.0, 0, 20, "n/a")


def test_holdout_rejects_bad_arguments():
    subjects, labels = _labelled(BALANCED)
    for kwargs in ({"test_fraction": 0.0}, {"test_fraction": 1.0}, {"tolerance": -0.1},
                   {"max_l1": -1}, {"trials": 0}, {"trials": 2.5}, {"test_fraction": True}):
        with pytest.raises(ValueError):
            holdout(subjects, labels, 0, **kwargs)
    with pytest.raises(ValueError, match="labels"):
        holdout(subjects, labels[:-1], 0)
    with pytest.raises(ValueError, match="2 subjects"):
        holdout(["a"] * 4, ["x", "y"] * 2, 0)


def test_make_folds_holdout_passes_options_and_needs_labels():
    subjects, labels = _labelled(CASME_LIKE)
    spec = {"kind": "holdout", "test_fraction": 0.3, "tolerance": 0.05, "max_l1": 0.2, "trials": 300}
    (a,) = make_folds(spec, subjects, seed=4, labels=labels)
    (b,) = holdout(subjects, labels, 4, test_fraction=0.3, tolerance=0.05, max_l1=0.2, trials=300)
    assert a.name == b.name and np.array_equal(a.test, b.test)
    assert 0.25 <= a.test.size / subjects.size <= 0.35
    with pytest.raises(ValueError, match="label"):
        make_folds({"kind": "holdout"}, subjects, seed=0)


# --- leave-one-sample-out (contrast) --------------------------------------------------------------

def test_loo_folds_are_flagged_and_fail_the_disjointness_check():
    subjects = ["a", "a", "b", "c", "c"]
    folds = make_folds({"kind": "loo"}, subjects, seed=0)
    assert [f.name for f in folds] == [f"loo:{i}" for i in range(5)]
    for i, f in enumerate(folds):
        assert f.subject_independent is False
        assert f.test.tolist() == [i] and f.train.tolist() == [j for j in range(5) if j != i]
    with pytest.raises(LeakageError, match="subject"):
        assert_subject_disjoint(subjects, folds[0].train, folds[0].test)  # 'a' on both sides
    assert_subject_disjoint(subjects, folds[2].train, folds[2].test)  # 'b' has one clip only
    with pytest.raises(ValueError):
        loo(["a"])


def test_fold_flag_defaults_and_validation():
    assert Fold("x", [0], [1]).subject_independent is True
    assert Fold("x", [0], [1], subject_independent=False).subject_independent is False
    with pytest.raises(ValueError):
        Fold("x", [0], [1], subject_independent="no")


def test_unknown_protocol_keys_are_named():
    subjects = _subjects(UNEVEN)
    with pytest.raises(ValueError, match="groups"):
        make_folds({"kind": "loso", "groups": 3}, subjects, seed=0)
    with pytest.raises(ValueError, match="frac"):
        make_folds({"kind": "holdout", "frac": 0.2}, subjects, seed=0, labels=["x"] * len(subjects))
    with pytest.raises(ValueError, match="max_l1"):
        make_folds({"kind": "logo", "groups": 3, "max_l1": 0.1}, subjects, seed=0)


def test_protocol_properties():
    assert protocol_properties({"kind": "holdout", "max_l1": 0.2}) == {
        "subject_independent": True, "covers_all_samples": False}
    assert protocol_properties({"kind": "loo"}) == {
        "subject_independent": False, "covers_all_samples": True}
    for spec in ({"kind": "loso"}, {"kind": "logo", "groups": 5}, {"kind": "loco"}):
        assert protocol_properties(spec) == {"subject_independent": True, "covers_all_samples": True}
    with pytest.raises(ValueError, match="kfold"):
        protocol_properties({"kind": "kfold"})
    with pytest.raises(ValueError, match=r"\['k'\]"):
        protocol_properties({"kind": "loso", "k": 1})
