"""Split protocols: subject-independent ones, and one declared contrast.

Inputs are per-sample subject identifiers (``Sequence[str]`` of length ``n``,
plus each sample's corpus or label where a protocol needs it); outputs are
:class:`Fold` objects holding ``int64`` index arrays into the sample arrays.

Every subject-independent split keeps whole subjects together: a subject's
clips are either all in the training set or all in the test set of a fold.
This is checked in code (:func:`assert_subject_disjoint`) for every such fold
before it is returned, and again by the cross-validation driver.

Protocols
---------
``loso``     leave-one-subject-out: one fold per subject, in sorted subject order.
``logo``     leave-one-group-out over ``k`` groups of whole subjects, balanced in
             clip count (greedy, largest subject first into the smallest group,
             after a seeded shuffle that decides ties).
``loco``     leave-one-corpus-out for composite sets: one fold per corpus (the
             member dataset a clip comes from); subjects are namespaced by corpus,
             so these folds are subject-disjoint too, and that is checked like any
             other.
``holdout``  one subject-disjoint train/test split chosen like the Emotion Engine
             sampler: whole subjects whose clips make ``test_fraction ± tolerance``
             of the set and whose class distribution is within L1 distance
             ``max_l1`` of the overall one (seeded random search). Only the test
             subjects' clips are ever tested, so it does not cover every sample.
``loo``      leave-one-*sample*-out, a **contrast only**: one fold per clip, all
             other clips in training. A test subject's other clips (same face,
             same session, often the same expression) are then in the training
             set, which is exactly the identity leakage the other protocols
             prevent; scores under ``loo`` are optimistic and show how much a
             leaky split inflates results. Its folds are flagged
             ``subject_independent=False``, fail :func:`assert_subject_disjoint`
             by design (when a subject has >= 2 clips), and are accepted by the
             cross-validation driver only when the caller declares the contrast.

Note the "LOGO" pitfall seen in the literature: grouping by *clip* (or by any
key other than subject) lets the same person appear in train and test; such a
split is refused with :class:`LeakageError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from mexflow.params import is_real, nonnegative_number, positive_int

__all__ = [
    "LeakageError",
    "Fold",
    "assert_subject_disjoint",
    "assert_sample_disjoint",
    "loso",
    "logo",
    "loco",
    "holdout",
    "loo",
    "make_folds",
    "protocol_properties",
    "PROTOCOL_KEYS",
]

#: Keys each protocol kind accepts in a spec (besides ``kind``).
PROTOCOL_KEYS: dict[str, frozenset[str]] = {
    "loso": frozenset(),
    "logo": frozenset({"groups"}),
    "loco": frozenset(),
    "holdout": frozenset({"test_fraction", "tolerance", "max_l1", "trials"}),
    "loo": frozenset(),
}


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
    subject_independent : bool
        True (default) when no subject is on both sides; such folds must pass
        :func:`assert_subject_disjoint`. False only for a declared contrast
        (``loo``), which the cross-validation driver refuses unless told.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    subject_independent: bool = True

    def __post_init__(self) -> None:
        for field in ("train", "test"):
            arr = _as_index_array(getattr(self, field), field)
            arr.setflags(write=False)
            object.__setattr__(self, field, arr)
        if not isinstance(self.subject_independent, (bool, np.bool_)):
            raise ValueError(f"subject_independent must be a bool, got {self.subject_independent!r}")
        object.__setattr__(self, "subject_independent", bool(self.subject_independent))


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


def assert_sample_disjoint(n: int, train, test) -> tuple[np.ndarray, np.ndarray]:
    """Refuse a split that is malformed or puts a *sample* on both sides.

    Parameters
    ----------
    n : int
        Number of samples.
    train, test : array-like of int
        Sample indices into ``range(n)``.

    Raises
    ------
    LeakageError
        If a sample index is in both ``train`` and ``test``.
    ValueError
        If ``train`` or ``test`` is empty, not integer, out of range, or
        contains duplicate indices.

    Returns the (train, test) indices as int64 arrays.
    """
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
    return tr, te


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
    tr, te = assert_sample_disjoint(subj.size, train, test)
    shared_subjects = sorted(set(subj[tr]) & set(subj[te]))
    if shared_subjects:
        raise LeakageError(
            f"split is not subject-independent: {len(shared_subjects)} subject(s) in both "
            f"train and test: {', '.join(shared_subjects)}"
        )


def _check_all(subjects: np.ndarray, folds: list[Fold]) -> list[Fold]:
    """Check every subject-independent fold; flagged contrast folds pass through."""
    for f in folds:
        if not f.subject_independent:
            continue
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


def holdout(
    subjects: Sequence[str],
    labels: Sequence[str],
    seed: int,
    test_fraction: float = 0.15,
    tolerance: float = 0.05,
    max_l1: float = 0.1,
    trials: int = 5000,
) -> list[Fold]:
    """One subject-disjoint, class-stratified test split (Emotion Engine sampler).

    Whole subjects are chosen for the test set so that it holds
    ``test_fraction ± tolerance`` of the clips and the L1 distance between its
    class distribution and the overall one, ``sum_c |p_test(c) - p_all(c)|``
    (in [0, 2]), is ``<= max_l1``.

    Search: ``trials`` times (``np.random.default_rng(seed)``), shuffle the
    sorted subject list and add subjects in that order until the test fraction
    reaches ``test_fraction - tolerance``, skipping a subject that would push it
    above ``test_fraction + tolerance`` (or leave no training subject). Among
    the accepted candidates the one with the smallest L1 wins; ties go to the
    fraction closest to ``test_fraction``, then to the earliest trial (L1 and
    fractions are compared exactly, as rationals).

    Parameters
    ----------
    subjects, labels : Sequence[str], length n
        Subject id and class label of every sample.
    seed : int
    test_fraction : float in (0, 1); tolerance, max_l1 : float >= 0; trials : int >= 1

    Returns
    -------
    list[Fold]
        One fold named ``"holdout:<sorted test subjects joined by '+'>"``;
        train = the clips of every other subject.

    Raises
    ------
    ValueError
        On bad arguments, fewer than 2 subjects, or when no trial met both
        constraints (the message gives the best fraction and L1 reached).
    """
    subj = _as_subjects(subjects)
    labs = np.asarray([str(v) for v in labels], dtype=object)
    if labs.shape != subj.shape:
        raise ValueError(f"labels has {labs.size} entries for {subj.size} samples")
    if not is_real(test_fraction) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    tolerance = nonnegative_number(tolerance, "tolerance")
    max_l1 = nonnegative_number(max_l1, "max_l1")
    trials = positive_int(trials, "trials")

    uniq = sorted(set(subj))
    if len(uniq) < 2:
        raise ValueError(f"holdout needs at least 2 subjects, got {len(uniq)}")
    classes = sorted(set(labs))
    s_pos = {s: i for i, s in enumerate(uniq)}
    c_pos = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(uniq), len(classes)), dtype=np.int64)  # clips per (subject, class)
    np.add.at(counts, ([s_pos[s] for s in subj], [c_pos[c] for c in labs]), 1)
    sizes = counts.sum(axis=1).tolist()
    overall = counts.sum(axis=0)
    n = int(subj.size)
    eps = 1e-9  # so that e.g. 6/60 counts as >= 0.15 - 0.05
    lo_clips = (test_fraction - tolerance) * n - eps
    hi_clips = (test_fraction + tolerance) * n + eps
    target = Fraction(float(test_fraction))

    def evaluate(chosen: tuple[int, ...]) -> tuple[int, Fraction | None]:
        m = sum(sizes[i] for i in chosen)
        if m == 0:
            return 0, None
        test_counts = counts[list(chosen)].sum(axis=0)
        # |t_c/m - a_c/n| summed = sum |t_c*n - a_c*m| / (m*n), exact in integers
        return m, Fraction(int(np.abs(test_counts * n - overall * m).sum()), m * n)

    rng = np.random.default_rng(seed)
    cache: dict[tuple[int, ...], tuple[int, Fraction | None]] = {}
    best_key = best = None
    near_key = near = None  # closest candidate of any trial, for the error message
    for _ in range(int(trials)):
        chosen, m = [], 0
        for i in rng.permutation(len(uniq)):
            c = sizes[i]
            if m + c > hi_clips or m + c >= n:
                continue
            chosen.append(int(i))
            m += c
            if m >= lo_clips:
                break
        cand = tuple(sorted(chosen))
        if cand not in cache:
            cache[cand] = evaluate(cand)
        m, l1 = cache[cand]
        frac = Fraction(m, n)
        in_window = lo_clips <= m <= hi_clips
        gap = max(Fraction(0), abs(frac - target) - Fraction(float(tolerance)))
        key = (not in_window, gap, l1 if l1 is not None else Fraction(3))
        if near_key is None or key < near_key:
            near_key, near = key, (m, l1)
        if in_window and l1 is not None and float(l1) <= max_l1 + eps:
            key = (l1, abs(frac - target))
            if best_key is None or key < best_key:
                best_key, best = key, cand
    if best is None:
        m, l1 = near
        l1_txt = "n/a (empty test set)" if l1 is None else f"{float(l1):.4f}"
        raise ValueError(
            f"holdout: no subject set met the constraints in {trials} trial(s) "
            f"(test fraction {test_fraction} ± {tolerance}, class-distribution L1 <= {max_l1}); "
            f"best reached: test fraction {m / n:.4f} ({m}/{n} clips), L1 {l1_txt}"
        )
    test_subjects = [uniq[i] for i in best]
    is_test = np.isin(subj, np.asarray(test_subjects, dtype=object))
    fold = Fold(
        name="holdout:" + "+".join(test_subjects),
        train=np.flatnonzero(~is_test),
        test=np.flatnonzero(is_test),
    )
    return _check_all(subj, [fold])


def loo(subjects: Sequence[str]) -> list[Fold]:
    """Leave-one-sample-out — a leaky **contrast**, not a subject-independent protocol.

    One fold per sample, in sample order, named ``"loo:<index>"``: the sample is
    tested, every other sample (including the same subject's other clips) is
    trained on. Folds are flagged ``subject_independent=False`` and are not
    checked with :func:`assert_subject_disjoint` (they fail it whenever a subject
    has >= 2 clips). Needs at least 2 samples.
    """
    subj = _as_subjects(subjects)
    n = subj.size
    if n < 2:
        raise ValueError(f"leave-one-sample-out needs at least 2 samples, got {n}")
    everything = np.arange(n)
    return [
        Fold(name=f"loo:{i}", train=np.delete(everything, i), test=everything[i:i + 1],
             subject_independent=False)
        for i in range(n)
    ]


def _check_spec(protocol: Mapping) -> str:
    """Validate a protocol spec's kind and keys; return the kind."""
    if not isinstance(protocol, Mapping) or "kind" not in protocol:
        raise ValueError(f"protocol must be a mapping with a 'kind' key, got {protocol!r}")
    kind = protocol["kind"]
    if kind not in PROTOCOL_KEYS:
        known = ", ".join(repr(k) for k in PROTOCOL_KEYS)
        raise ValueError(f"unknown protocol kind {kind!r} (known: {known})")
    unknown = sorted(set(map(str, protocol)) - {"kind"} - PROTOCOL_KEYS[kind])
    if unknown:
        accepted = ", ".join(sorted(PROTOCOL_KEYS[kind])) or "none besides 'kind'"
        raise ValueError(f"protocol kind {kind!r}: unknown key(s) {unknown} (accepted: {accepted})")
    return kind


def make_folds(protocol: Mapping, subjects: Sequence[str], seed: int,
               corpora: Sequence[str] | None = None,
               labels: Sequence[str] | None = None) -> list[Fold]:
    """Build folds from a protocol spec.

    ``protocol`` is one of ``{"kind": "loso"}``, ``{"kind": "logo", "groups": k}``,
    ``{"kind": "loco"}`` (needs ``corpora``, each sample's corpus),
    ``{"kind": "holdout"}`` with optional ``test_fraction``, ``tolerance``,
    ``max_l1``, ``trials`` (needs ``labels``, each sample's class; see
    :func:`holdout`) or ``{"kind": "loo"}`` (a contrast, see :func:`loo`).
    Unknown kinds or keys raise ``ValueError`` naming them. Every
    subject-independent fold is checked with :func:`assert_subject_disjoint`
    before return; ``loo`` folds are returned unchecked, flagged
    ``subject_independent=False``.
    """
    kind = _check_spec(protocol)
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
    elif kind == "holdout":
        if labels is None:
            raise ValueError("protocol kind 'holdout' needs each sample's label (labels=...)")
        options = {k: protocol[k] for k in PROTOCOL_KEYS["holdout"] if k in protocol}
        folds = holdout(subj, labels, seed, **options)
    else:  # loo
        folds = loo(subj)
    return _check_all(subj, folds)


def protocol_properties(protocol: Mapping) -> dict:
    """What a protocol guarantees: ``{"subject_independent": bool, "covers_all_samples": bool}``.

    ``covers_all_samples`` means every sample is tested exactly once (the test
    sets partition the samples), so the cross-validation driver can demand full
    coverage. ``holdout``: subject-independent, partial coverage; ``loo``:
    not subject-independent (a contrast), full coverage; the others: both.
    """
    kind = _check_spec(protocol)
    return {"subject_independent": kind != "loo", "covers_all_samples": kind != "holdout"}
