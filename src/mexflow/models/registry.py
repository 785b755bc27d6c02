"""Recognisers by `kind`: each gives a fit_predict(X_train, y_train, groups_train, X_test)."""
from __future__ import annotations

from functools import partial
from typing import Callable

from mexflow.models.svm import fit_predict_linear_svm


def make_fit_predict(spec: dict, seed: int) -> Callable:
    """spec: a `models:` entry of the config."""
    if spec["kind"] == "linear_svm":
        return partial(fit_predict_linear_svm, C_grid=tuple(spec.get("C_grid", (0.01, 0.1, 1.0))),
                       inner_folds=int(spec.get("inner_folds", 3)), seed=seed)
    raise ValueError(f"unknown model kind {spec['kind']!r}")
