"""Subject-independent split protocols: LOSO / LOGO and the leakage guard."""

from __future__ import annotations

import numpy as np
import pytest

from mexflow.evaluation.protocols import (
    Fold,
    LeakageError,
    assert_subject_disjoint,
    logo,
    loso,
    make_folds,
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
