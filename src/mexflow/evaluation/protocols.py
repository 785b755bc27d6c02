"""Subject-independent split protocols.

Every split produced here keeps whole subjects together: a subject's clips are
either all in the training set or all in the test set of a fold. This is checked
in code (:func:`assert_subject_disjoint`) for every fold before it is returned.

Inputs are per-sample subject identifiers (``Sequence[str]`` of length ``n``);
outputs are :class:`Fold` objects holding ``int64`` index arrays into the
sample arrays.

Protocols
---------
``loso``  leave-one-subject-out: one fold per subject, in sorted subject order.
``logo``  leave-one-group-out over ``k`` groups of whole subjects, balanced in
          clip count (greedy, largest subject first into the smallest group,
          after a seeded shuffle that decides ties).
``loco``  leave-one-corpus-out for composite sets: one fold per corpus (the
          member dataset a clip comes from); subjects are namespaced by corpus, so
          these folds are subject-disjoint too, and that is checked like any other.

Note the "LOGO" pitfall seen in the literature: grouping by *clip* (or by any
key other than subject) lets the same person appear in train and test; such a
split is refused with :class:`LeakageError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LeakageError",
    "Fold",
    "assert_subject_disjoint",
    "loso",
    "logo",
    "loco",
    "make_folds",
]


class LeakageError(RuntimeError):
    """A split lets information about test subjects/samples reach training."""


@dataclass(frozen=True, eq=False)
class Fold:
    """One train/test split.

    Attributes
    ----------
    name : str
        Human-readable id, e.g. ``"loso:casme2/sub03"`` or ``"logo:2"``.
    train, test : np.ndarray
        1-D ``int64`` arrays of sample indices (sorted, unique, read-only).
    """

    name: str
    train: np.ndarray
    test: np.ndarray

    def __post_init__(self) -> None:
        for field in ("train", "test"):
            arr = _as_index_array(getattr(self, field), field)
            arr.setflags(write=False)
            object.__setattr__(self, field, arr)


def _as_index_array(idx, what: str) -> np.ndarray:
    """Coerce ``idx`` to a 1-D int64 array; refuse booleans/floats (masks are ambiguous)."""
    arr = np.asarray(idx)
    if arr.ndim != 1:
        raise ValueError(f"{what} indices must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} indices must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=True)


def _as_subjects(subjects: Sequence[str]) -> np.ndarray:
    """Per-sample subject ids as a 1-D array of ``str`` (dtype object)."""
    arr = np.asarray([str(s) for s in subjects], dtype=object)
    if arr.size == 0:
        raise ValueError("no samples: subjects is empty")
    return arr


def assert_subject_disjoint(subjects: Sequence[str], train, test) -> None:
    """Refuse any split in which a subject (or a sample) is on both sides.

    Parameters
    ----------
    subjects : Sequence[str], length n
        Subject id of every sample.
    train, test : array-like of int
        Sample indices into ``subjects``.

    Raises
    ------
    LeakageError
        If a sample index is in both ``train`` and ``test``, or if any subject has
        samples in both (the message names the shared subjects).
    ValueError
        If ``train`` or ``test`` is empty, not integer, out of range, or
        contains duplicate indices.
    """
    subj = _as_subjects(subjects)
    n = subj.size
    tr = _as_index_array(train, "train")
    te = _as_index_array(test, "test")
    for what, arr in (("train", tr), ("test", te)):
        if arr.size == 0:
            raise ValueError(f"{what} set is empty")
        if arr.min() < 0 or arr.max() >= n:
            raise ValueError(f"{what} indices out of range [0, {n})")
        if np.unique(arr).size != arr.size:
            raise ValueError(f"{what} indices contain duplicates")
    shared_samples = np.intersect1d(tr, te)
    if shared_samples.size:
        shown = ", ".join(map(str, shared_samples[:10].tolist()))
        raise LeakageError(
            f"{shared_samples.size} sample(s) in both train and test (indices: {shown}"
            f"{', ...' if shared_samples.size > 10 else ''})"
        )
    shared_subjects = sorted(set(subj[tr]) & set(subj[te]))
    if shared_subjects:
        raise LeakageError(
            f"split is not subject-independent: {len(shared_subjects)} subject(s) in both "
            f"train and test: {', '.join(shared_subjects)}"
        )


def _check_all(subjects: np.ndarray, folds: list[Fold]) -> list[Fold]:
    for f in folds:
        try:
            assert_subject_disjoint(subjects, f.train, f.test)
        except (LeakageError, ValueError) as exc:
            raise type(exc)(f"fold {f.name!r}: {exc}") from exc
    return folds


def loso(subjects: Sequence[str]) -> list[Fold]:
    """Leave-one-subject-out: one fold per subject, folds in sorted subject order.

    Fold ``name`` is ``"loso:<subject>"``. Needs at least 2 subjects.
    """
    subj = _as_subjects(subjects)
    uniq = sorted(set(subj))
    if len(uniq) < 2:
        raise ValueError(f"LOSO needs at least 2 subjects, got {len(uniq)}")
    folds = []
    for s in uniq:
        is_test = subj == s
        folds.append(
            Fold(name=f"loso:{s}", train=np.flatnonzero(~is_test), test=np.flatnonzero(is_test))
        )
    return _check_all(subj, folds)


def logo_groups(subjects: Sequence[str], k: int, seed: int) -> dict[str, int]:
    """Assign each subject to one of ``k`` groups, balancing clip counts.

    The sorted subject list is shuffled with ``np.random.default_rng(seed)``; the
    subjects are then taken largest clip count first (stable sort, so the shuffle
    decides the order among equal counts) and each goes into the group with the
    fewest clips so far (ties: fewer subjects, then lower group index). This LPT
    greedy keeps ``max(size) - min(size) <= max clips of one subject``.

    Returns ``{subject: group}`` with groups ``0..k-1``.
    """
    subj = _as_subjects(subjects)
    uniq, counts = np.unique(subj.astype(str), return_counts=True)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"LOGO groups must be an int, got {k!r}")
    if k < 2:
        raise ValueError(f"LOGO needs k >= 2 groups, got k={k}")
    if k > uniq.size:
        raise ValueError(f"LOGO with k={k} groups but only {uniq.size} subjects")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(uniq.size)
    order = perm[np.argsort(-counts[perm], kind="stable")]
    sizes = [0] * k
    members = [0] * k
    assign: dict[str, int] = {}
    for i in order:
        g = min(range(k), key=lambda j: (sizes[j], members[j], j))
        assign[str(uniq[i])] = g
        sizes[g] += int(counts[i])
        members[g] += 1
    return assign


def logo(subjects: Sequence[str], k: int, seed: int) -> list[Fold]:
    """Leave-one-group-out over ``k`` balanced groups of whole subjects.

    See :func:`logo_groups` for the assignment. Fold ``name`` is ``"logo:<g>"``
    with ``g`` in ``0..k-1``; folds are returned in group order.
    Raises ``ValueError`` if ``k < 2`` or ``k`` exceeds the number of subjects.
    """
    subj = _as_subjects(subjects)
    assign = logo_groups(subj, k, seed)
    g_of_sample = np.array([assign[s] for s in subj], dtype=np.int64)
    folds = [
        Fold(
            name=f"logo:{g}",
            train=np.flatnonzero(g_of_sample != g),
            test=np.flatnonzero(g_of_sample == g),
        )
        for g in range(k)
    ]
    return _check_all(subj, folds)


def loco(subjects: Sequence[str], corpora: Sequence[str]) -> list[Fold]:
    """Leave-one-corpus-out: one fold per corpus, in sorted corpus order.

    ``corpora`` gives each sample's corpus (length n, like ``subjects``). A subject
    that appears under two corpora would make the folds leak and is refused.
    Fold ``name`` is ``"loco:<corpus>"``. Needs at least 2 corpora.
    """
    subj = _as_subjects(subjects)
    corp = np.asarray([str(c) for c in corpora], dtype=object)
    if corp.shape != subj.shape:
        raise ValueError(f"corpora has {corp.size} entries for {subj.size} samples")
    owners: dict[str, set] = {}
    for s, c in zip(subj, corp):
        owners.setdefault(s, set()).add(c)
    shared = sorted(s for s, cs in owners.items() if len(cs) > 1)
    if shared:
        raise LeakageError(f"subjects appear under several corpora (namespace them): {shared[:5]}")
    uniq = sorted(set(corp))
    if len(uniq) < 2:
        raise ValueError(f"leave-one-corpus-out needs at least 2 corpora, got {uniq}")
    folds = [Fold(name=f"loco:{c}", train=np.flatnonzero(corp != c), test=np.flatnonzero(corp == c))
             for c in uniq]
    return _check_all(subj, folds)


def make_folds(protocol: Mapping, subjects: Sequence[str], seed: int,
               corpora: Sequence[str] | None = None) -> list[Fold]:
    """Build folds from a protocol spec.

    ``protocol`` is ``{"kind": "loso"}``, ``{"kind": "logo", "groups": k}`` or
    ``{"kind": "loco"}`` (which needs ``corpora``, each sample's corpus).
    Unknown kinds raise ``ValueError`` naming the kind. Every fold is checked
    with :func:`assert_subject_disjoint` before return.
    """
    if not isinstance(protocol, Mapping) or "kind" not in protocol:
        raise ValueError(f"protocol must be a mapping with a 'kind' key, got {protocol!r}")
    kind = protocol["kind"]
    subj = _as_subjects(subjects)
    if kind == "loso":
        folds = loso(subj)
    elif kind == "logo":
        if "groups" not in protocol:
            raise ValueError("protocol kind 'logo' needs a 'groups' entry (number of groups)")
        folds = logo(subj, protocol["groups"], seed)
    elif kind == "loco":
        if corpora is None:
            raise ValueError("protocol kind 'loco' needs each sample's corpus")
        folds = loco(subj, corpora)
    else:
        raise ValueError(f"unknown protocol kind {kind!r} (known: 'loso', 'logo', 'loco')")
    return _check_all(subj, folds)
