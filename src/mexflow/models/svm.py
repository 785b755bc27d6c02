"""Linear-SVM recogniser with subject-grouped inner model selection.

``fit_predict_linear_svm`` only ever sees the training samples of an outer
fold: the regularisation constant ``C`` is chosen by an inner
``GroupKFold`` over the *training* subjects, scored by macro F1, and the
refitted pipeline then predicts the outer test samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

__all__ = ["fit_predict_linear_svm", "make_pipeline", "SCORING"]

#: Inner-CV selection criterion (macro F1 == UF1 on the inner test folds).
SCORING = "f1_macro"
MAX_ITER = 100_000


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
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    y_train = np.asarray(y_train)
    groups_train = np.asarray([str(g) for g in groups_train], dtype=object)
    if X_train.ndim != 2 or X_test.ndim != 2 or X_train.shape[1] != X_test.shape[1]:
        raise ValueError(f"bad shapes: X_train {X_train.shape}, X_test {X_test.shape}")
    if not (y_train.shape[0] == groups_train.shape[0] == X_train.shape[0]):
        raise ValueError("X_train, y_train and groups_train lengths differ")
    grid = [float(c) for c in C_grid]
    if not grid:
        raise ValueError("C_grid is empty")

    if len(grid) == 1:
        model = make_pipeline(grid[0], seed).fit(X_train, y_train)
        return model.predict(X_test), {"C": grid[0], "inner_folds": 0}

    n_groups = np.unique(groups_train).size
    n_inner = min(int(inner_folds), n_groups)
    if n_inner < 2:
        raise ValueError(
            f"cannot select C among {len(grid)} values: {n_groups} training subject(s), "
            f"inner_folds={inner_folds}; need >= 2 (or pass a single-value C_grid)"
        )
    search = GridSearchCV(
        make_pipeline(seed=seed),
        param_grid={"svc__C": grid},
        scoring=SCORING,
        cv=GroupKFold(n_splits=n_inner),
        refit=True,
        n_jobs=None,
        error_score=np.nan,  # e.g. an inner training split with one class only
    )
    search.fit(X_train, y_train, groups=groups_train)
    if np.all(np.isnan(search.cv_results_["mean_test_score"])):
        raise RuntimeError("inner C search failed for every candidate (see FitFailedWarning)")
    chosen = float(search.best_params_["svc__C"])
    return search.predict(X_test), {"C": chosen, "inner_folds": n_inner}
