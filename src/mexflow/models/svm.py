"""SVM recognisers (linear and kernel) with subject-grouped inner model selection.

``fit_predict_linear_svm`` and ``fit_predict_svm`` only ever see the training
samples of an outer fold: hyper-parameters (``C``, and ``gamma`` for kernel
SVMs) are chosen by an inner ``GroupKFold`` over the *training* subjects,
scored by macro F1, and the refitted pipeline then predicts the outer test
samples.
"""

from __future__ import annotations

import logging
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import GroupKFold, ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

__all__ = ["fit_predict_linear_svm", "fit_predict_svm", "make_pipeline", "make_kernel_pipeline",
           "SCORING"]

#: Inner-CV selection criterion (macro F1 == UF1 on the inner test folds): a scorer name or a
#: callable scorer(estimator, X, y).
SCORING = "f1_macro"
MAX_ITER = 100_000

logger = logging.getLogger(__name__)


def _linear_svc(C: float = 1.0, seed: int = 0) -> LinearSVC:
    return LinearSVC(C=C, class_weight="balanced", dual="auto", max_iter=MAX_ITER, random_state=seed)


def _kernel_svc(kernel: str = "rbf", C: float = 1.0, gamma: float | str = "scale", seed: int = 0) -> SVC:
    return SVC(kernel=kernel, C=C, gamma=gamma, class_weight="balanced", random_state=seed)


def make_pipeline(C: float = 1.0, seed: int = 0) -> Pipeline:
    """``StandardScaler`` -> ``LinearSVC(class_weight="balanced")``: the linear model.

    ``dual="auto"`` solves the primal when n_samples > n_features (the usual
    case after feature pooling) and the dual otherwise; ``random_state`` fixes
    the dual solver's coordinate order. Constant features are scaled to 0 by
    ``StandardScaler`` (scale 1), so they are harmless.
    """
    return Pipeline([("scale", StandardScaler()), ("svc", _linear_svc(C, seed))])


def make_kernel_pipeline(kernel: str = "rbf", C: float = 1.0, gamma: float | str = "scale",
                         seed: int = 0) -> Pipeline:
    """``StandardScaler`` -> ``SVC(kernel, class_weight="balanced")`` (libsvm, one-vs-one)."""
    return Pipeline([("scale", StandardScaler()), ("svc", _kernel_svc(kernel, C, gamma, seed))])


def _check_inputs(X_train, y_train, groups_train, X_test):
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    y_train = np.asarray(y_train)
    groups_train = np.asarray([str(g) for g in groups_train], dtype=object)
    if X_train.ndim != 2 or X_test.ndim != 2 or X_train.shape[1] != X_test.shape[1]:
        raise ValueError(f"bad shapes: X_train {X_train.shape}, X_test {X_test.shape}")
    if not (y_train.shape[0] == groups_train.shape[0] == X_train.shape[0]):
        raise ValueError("X_train, y_train and groups_train lengths differ")
    return X_train, y_train, groups_train, X_test


def _grouped_search(make_model: Callable[..., object], param_grid: dict[str, list], X_train, y_train,
                    groups_train, X_test, inner_folds: int) -> tuple[np.ndarray, dict, int]:
    """Select ``param_grid`` by inner GroupKFold on the training subjects, refit, predict.

    The model is ``StandardScaler`` -> ``make_model(**point)``; ``param_grid`` maps the
    classifier's parameter names to candidate lists. The result is what ``GridSearchCV`` over
    that pipeline gives (``scoring=SCORING``, ``cv=GroupKFold(n_inner)``, ``error_score=nan``,
    ``refit=True``): the same candidates in ``ParameterGrid`` order, the same inner splits and
    fits, the same mean scores and ranking. It is computed with less work: the scaler of an
    inner split does not depend on the candidate, so each split is scaled once, not once per
    candidate (and no pipeline is cloned and re-validated per fit).

    With a single grid point no search is run (returned ``n_inner`` = 0). The
    inner folds are reduced to the number of training subjects; fewer than 2
    is a ``ValueError``. Ties go to the first grid point (``ParameterGrid``
    order). A candidate whose fit fails on an inner split scores NaN there
    (``FitFailedWarning``); all fits failing is a ``ValueError``. Returns
    ``(y_pred, best_params, n_inner)``.
    """
    points = list(ParameterGrid(param_grid))
    if len(points) == 1:
        return _refit_predict(make_model, points[0], X_train, y_train, X_test), points[0], 0
    n_groups = np.unique(groups_train).size
    n_inner = min(int(inner_folds), n_groups)
    if n_inner < 2:
        searched = ", ".join(param_grid)
        raise ValueError(
            f"cannot select {searched} among {len(points)} candidates: {n_groups} training "
            f"subject(s), inner_folds={inner_folds}; need >= 2 (or pass single-value grids)"
        )
    t0 = time.perf_counter()
    scorer = get_scorer(SCORING) if isinstance(SCORING, str) else SCORING
    splits = list(GroupKFold(n_splits=n_inner).split(X_train, y_train, groups_train))
    scores = np.full((len(points), len(splits)), np.nan)  # GridSearchCV's (candidates, splits)
    errors: list[str] = []
    for j, (tr, te) in enumerate(splits):
        X_tr, y_tr, X_te, y_te = X_train[tr], y_train[tr], X_train[te], y_train[te]
        try:
            scaler = StandardScaler().fit(X_tr)
            X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        except Exception:  # noqa: BLE001 - GridSearchCV's error_score=nan: every candidate fails
            errors += [traceback.format_exc()] * len(points)
            continue
        for i, point in enumerate(points):
            try:
                model = make_model(**point).fit(X_tr, y_tr)
            except Exception:  # noqa: BLE001 - e.g. an inner training split with one class only
                errors.append(traceback.format_exc())
                continue
            try:
                scores[i, j] = scorer(model, X_te, y_te)
            except Exception as exc:  # noqa: BLE001
                warnings.warn(f"scoring failed; the score of {point} on inner split {j} is NaN: {exc}",
                              UserWarning)
    if len(errors) == scores.size:
        raise ValueError(f"All the {scores.size} fits failed in the inner hyper-parameter search; "
                         f"the first:\n{errors[0]}")
    if errors:
        warnings.warn(f"{len(errors)} fits failed out of a total of {scores.size}; their scores are "
                      f"NaN. The first:\n{errors[0]}", FitFailedWarning)
    means = np.average(scores, axis=1)  # as GridSearchCV's mean_test_score
    if np.all(np.isnan(means)):
        raise RuntimeError("inner hyper-parameter search failed for every candidate "
                           "(see FitFailedWarning)")
    # GridSearchCV ranks NaN means below every other and takes the first of the best rank
    best = int(np.argmax(np.where(np.isnan(means), np.nanmin(means) - 1, means)))
    logger.info("grid search: %s, inner macro F1 %.3f (%d candidates x %d inner folds on %d "
                "subjects, %.1f s)", " ".join(f"{k}={v}" for k, v in points[best].items()),
                means[best], len(points), n_inner, n_groups, time.perf_counter() - t0)
    return _refit_predict(make_model, points[best], X_train, y_train, X_test), points[best], n_inner


def _refit_predict(make_model, point: dict, X_train, y_train, X_test) -> np.ndarray:
    scaler = StandardScaler().fit(X_train)
    model = make_model(**point).fit(scaler.transform(X_train), y_train)
    return model.predict(scaler.transform(X_test))


def fit_predict_linear_svm(
    X_train: np.ndarray,
    y_train: Sequence[str],
    groups_train: Sequence[str],
    X_test: np.ndarray,
    *,
    C_grid: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    inner_folds: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, dict]:
    """Choose ``C`` on the training subjects, refit, predict ``X_test``.

    Parameters
    ----------
    X_train : np.ndarray, shape (n_train, d), float
    y_train : Sequence[str], length n_train
    groups_train : Sequence[str], length n_train
        Subject id of each training sample; inner folds keep subjects whole.
    X_test : np.ndarray, shape (n_test, d), float
    C_grid : candidate C values (searched in order; ties go to the first).
    inner_folds : number of inner ``GroupKFold`` splits; reduced to the number
        of training subjects if there are fewer (must leave >= 2 unless
        ``len(C_grid) == 1``, in which case no search is run).
    seed : ``random_state`` of the SVM.

    Returns
    -------
    (y_pred, info) : ``y_pred`` is an array of shape (n_test,) with labels
        from ``y_train``; ``info = {"C": float, "inner_folds": int}``
        (``inner_folds`` = 0 when no search was run).
    """
    X_train, y_train, groups_train, X_test = _check_inputs(X_train, y_train, groups_train, X_test)
    grid = [float(c) for c in C_grid]
    if not grid:
        raise ValueError("C_grid is empty")
    y_pred, best, n_inner = _grouped_search(partial(_linear_svc, seed=seed), {"C": grid},
                                            X_train, y_train, groups_train, X_test, inner_folds)
    return y_pred, {"C": float(best["C"]), "inner_folds": n_inner}


def fit_predict_svm(
    X_train: np.ndarray,
    y_train: Sequence[str],
    groups_train: Sequence[str],
    X_test: np.ndarray,
    *,
    kernel: str = "rbf",
    C_grid: Sequence[float] = (0.1, 1, 10),
    gamma_grid: Sequence[float | str] = ("scale",),
    inner_folds: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, dict]:
    """Kernel SVM: choose ``C`` and ``gamma`` on the training subjects, refit, predict.

    Pipeline: ``StandardScaler`` -> ``SVC(kernel, class_weight="balanced",
    random_state=seed)``. The search runs over ``C_grid x gamma_grid`` by an
    inner ``GroupKFold`` of the training subjects, scored by macro F1, exactly
    as in :func:`fit_predict_linear_svm` (same inner-fold reduction; a single
    grid point means no search; ties go to the first point, C-major).

    Parameters
    ----------
    X_train : np.ndarray, shape (n_train, d), float
    y_train, groups_train : Sequence[str], length n_train
        Labels and subject ids of the training samples.
    X_test : np.ndarray, shape (n_test, d), float
    kernel : ``SVC`` kernel ("rbf", "poly", "sigmoid", "linear").
    C_grid : candidate C values (> 0).
    gamma_grid : candidate ``gamma`` values: floats > 0 or "scale" / "auto".
    inner_folds : number of inner ``GroupKFold`` splits (see above).
    seed : ``random_state`` of the SVC.

    Returns
    -------
    (y_pred, info) : ``y_pred`` has shape (n_test,) with labels from ``y_train``;
        ``info = {"C": float, "gamma": str, "inner_folds": int}``
        (``gamma`` as written in the grid, e.g. "scale" or "0.1"; ``inner_folds`` = 0 when no
        search ran).
    """
    X_train, y_train, groups_train, X_test = _check_inputs(X_train, y_train, groups_train, X_test)
    c_grid = [float(c) for c in C_grid]
    g_grid = [g if isinstance(g, str) else float(g) for g in gamma_grid]
    if not c_grid or not g_grid:
        raise ValueError(f"empty grid: C_grid={list(C_grid)}, gamma_grid={list(gamma_grid)}")
    y_pred, best, n_inner = _grouped_search(
        partial(_kernel_svc, kernel, seed=seed), {"C": c_grid, "gamma": g_grid},
        X_train, y_train, groups_train, X_test, inner_folds)
    # gamma as text ("scale", "0.1"): one column type in the predictions table whatever the grid mixes
    return y_pred, {"C": float(best["C"]), "gamma": str(best["gamma"]), "inner_folds": n_inner}
