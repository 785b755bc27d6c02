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
from collections.abc import Sequence

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

__all__ = ["fit_predict_linear_svm", "fit_predict_svm", "make_pipeline", "make_kernel_pipeline",
           "SCORING"]

#: Inner-CV selection criterion (macro F1 == UF1 on the inner test folds).
SCORING = "f1_macro"
MAX_ITER = 100_000

logger = logging.getLogger(__name__)


def make_pipeline(C: float = 1.0, seed: int = 0) -> Pipeline:
    """``StandardScaler`` -> ``LinearSVC(class_weight="balanced")``.

    ``dual="auto"`` solves the primal when n_samples > n_features (the usual
    case after feature pooling) and the dual otherwise; ``random_state`` fixes
    the dual solver's coordinate order. Constant features are scaled to 0 by
    ``StandardScaler`` (scale 1), so they are harmless.
    """
    return Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "svc",
                LinearSVC(
                    C=C,
                    class_weight="balanced",
                    dual="auto",
                    max_iter=MAX_ITER,
                    random_state=seed,
                ),
            ),
        ]
    )


def make_kernel_pipeline(kernel: str = "rbf", C: float = 1.0, gamma: float | str = "scale",
                         seed: int = 0) -> Pipeline:
    """``StandardScaler`` -> ``SVC(kernel, class_weight="balanced")`` (libsvm, one-vs-one)."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("svc", SVC(kernel=kernel, C=C, gamma=gamma, class_weight="balanced",
                        random_state=seed)),
        ]
    )


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


def _grouped_search(pipeline: Pipeline, param_grid: dict[str, list], X_train, y_train,
                    groups_train, X_test, inner_folds: int) -> tuple[np.ndarray, dict, int]:
    """Select ``param_grid`` by inner GroupKFold on the training subjects, refit, predict.

    With a single grid point no search is run (returned ``n_inner`` = 0). The
    inner folds are reduced to the number of training subjects; fewer than 2
    is a ``ValueError``. Ties go to the first grid point (``ParameterGrid``
    order). Returns ``(y_pred, best_params, n_inner)``.
    """
    n_points = int(np.prod([len(v) for v in param_grid.values()]))
    if n_points == 1:
        point = {k: v[0] for k, v in param_grid.items()}
        model = clone(pipeline).set_params(**point).fit(X_train, y_train)
        return model.predict(X_test), point, 0
    n_groups = np.unique(groups_train).size
    n_inner = min(int(inner_folds), n_groups)
    if n_inner < 2:
        searched = ", ".join(k.split("__")[-1] for k in param_grid)
        raise ValueError(
            f"cannot select {searched} among {n_points} candidates: {n_groups} training "
            f"subject(s), inner_folds={inner_folds}; need >= 2 (or pass single-value grids)"
        )
    search = GridSearchCV(
        pipeline,
        param_grid=param_grid,
        scoring=SCORING,
        cv=GroupKFold(n_splits=n_inner),
        refit=True,
        n_jobs=None,
        error_score=np.nan,  # e.g. an inner training split with one class only
    )
    t0 = time.perf_counter()
    search.fit(X_train, y_train, groups=groups_train)
    if np.all(np.isnan(search.cv_results_["mean_test_score"])):
        raise RuntimeError("inner hyper-parameter search failed for every candidate "
                           "(see FitFailedWarning)")
    best = " ".join(f"{k.split('__')[-1]}={v}" for k, v in search.best_params_.items())
    logger.info("grid search: %s, inner macro F1 %.3f (%d candidates x %d inner folds on %d "
                "subjects, %.1f s)", best, search.best_score_, n_points, n_inner, n_groups,
                time.perf_counter() - t0)
    return search.predict(X_test), dict(search.best_params_), n_inner


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
    y_pred, best, n_inner = _grouped_search(make_pipeline(seed=seed), {"svc__C": grid},
                                            X_train, y_train, groups_train, X_test, inner_folds)
    return y_pred, {"C": float(best["svc__C"]), "inner_folds": n_inner}


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
        make_kernel_pipeline(kernel, seed=seed), {"svc__C": c_grid, "svc__gamma": g_grid},
        X_train, y_train, groups_train, X_test, inner_folds)
    # gamma as text ("scale", "0.1"): one column type in the predictions table whatever the grid mixes
    return y_pred, {"C": float(best["svc__C"]), "gamma": str(best["svc__gamma"]), "inner_folds": n_inner}
