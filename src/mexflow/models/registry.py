"""Recognisers by `kind`: each gives a fit_predict(X_train, y_train, groups_train, X_test, ...).

Vector models (linear_svm, svm) read a bank's "vector" (n, D); deep models (cnn3d, cnn_lstm,
two_stream) read its dense "data", converted by `mexflow.models.inputs.to_model_input` to
(n, C, T, input_size, input_size) float32. sklearn and torch are imported only when a model is built.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

from mexflow.models.deep_spec import resolve_spec

VECTOR_KINDS = ("linear_svm", "svm")
DEEP_KINDS = ("cnn3d", "cnn_lstm", "two_stream")
_SVM_KEYS = {"linear_svm": {"C_grid", "inner_folds"},
             "svm": {"kernel", "C_grid", "gamma_grid", "inner_folds"}}
#: Keys every model entry may carry whatever its kind: resources of the evaluate job.
RESOURCE_KEYS = {"threads", "gpus"}
DEFAULT_INPUT_SIZE = 64


def model_kinds() -> tuple[str, ...]:
    return VECTOR_KINDS + DEEP_KINDS


def model_input(spec: dict) -> str:
    """"vector" or "data": which array of a feature bank the model reads."""
    kind = spec.get("kind")
    if kind in VECTOR_KINDS:
        return "vector"
    if kind in DEEP_KINDS:
        return "data"
    raise ValueError(f"unknown model kind {kind!r}; known: {list(model_kinds())}")


def validate_model(name: str, spec: dict) -> None:
    """ValueError naming the model entry when its kind or keys are unknown or a value is bad
    (deep models by `mexflow.models.deep_spec.resolve_spec`; `threads` > 1 on an SVM, which fits
    on one thread)."""
    kind = spec.get("kind")
    try:
        if model_input(spec) == "vector":
            unknown = sorted(set(spec) - _SVM_KEYS[kind] - RESOURCE_KEYS - {"kind"})
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}; allowed: {sorted(_SVM_KEYS[kind] | RESOURCE_KEYS)}")
            _check_svm_values(spec)
            if int(spec.get("threads", 1)) != 1:
                raise ValueError(f"threads {spec['threads']}: an SVM fits on one thread (liblinear / "
                                 "libsvm, candidates one after another), so its evaluate job takes one "
                                 "core; threads is for the deep models")
        else:
            resolve_spec(spec)
    except ValueError as exc:
        raise ValueError(f"models.{name} (kind {kind}): {exc}") from exc


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_svm_values(spec: dict) -> None:
    """The SVM settings' values, so a bad grid fails when the DAG is built, not inside a job."""
    c_grid = spec.get("C_grid", [1.0])
    if not isinstance(c_grid, list) or not c_grid or not all(_is_number(c) and c > 0 for c in c_grid):
        raise ValueError(f"C_grid {c_grid!r}: a non-empty list of positive numbers")
    gamma_grid = spec.get("gamma_grid", ["scale"])
    if not isinstance(gamma_grid, list) or not gamma_grid or not all(
            g in ("scale", "auto") or (_is_number(g) and g > 0) for g in gamma_grid):
        raise ValueError(f"gamma_grid {gamma_grid!r}: a non-empty list of positive numbers, "
                         "'scale' or 'auto'")
    folds = spec.get("inner_folds", 3)
    if not (isinstance(folds, int) and not isinstance(folds, bool) and folds >= 2):
        raise ValueError(f"inner_folds {folds!r}: an integer >= 2")
    if spec.get("kernel", "rbf") not in ("rbf", "linear", "poly", "sigmoid"):
        raise ValueError(f"kernel {spec['kernel']!r}: one of rbf, linear, poly, sigmoid")


def job_threads(spec: dict) -> int:
    """Cores an evaluate job of this model uses: a deep model's `threads` (torch's intra-op
    threads, default 1); 1 for an SVM."""
    return int(spec.get("threads", 1)) if model_input(spec) == "data" else 1


def input_size(spec: dict) -> int:
    """Spatial size deep models resize a bank's data to (`input_size`, default 64 px)."""
    return resolve_spec(spec)["input_size"] or DEFAULT_INPUT_SIZE


def make_fit_predict(spec: dict, seed: int, threads: int = 1, device: str = "auto") -> Callable:
    """spec: a `models:` entry of the config."""
    kind = spec["kind"]
    if kind in VECTOR_KINDS:  # imported here: the DAG (which reads model_input) need not load sklearn
        from mexflow.models.svm import fit_predict_linear_svm, fit_predict_svm
    if kind == "linear_svm":
        return partial(fit_predict_linear_svm, C_grid=tuple(spec.get("C_grid", (0.01, 0.1, 1.0))),
                       inner_folds=int(spec.get("inner_folds", 3)), seed=seed)
    if kind == "svm":
        return partial(fit_predict_svm, kernel=spec.get("kernel", "rbf"),
                       C_grid=tuple(spec.get("C_grid", (0.1, 1.0, 10.0))),
                       gamma_grid=tuple(spec.get("gamma_grid", ("scale",))),
                       inner_folds=int(spec.get("inner_folds", 3)), seed=seed)
    if kind in DEEP_KINDS:
        from mexflow.models.deep import fit_predict_deep

        return partial(fit_predict_deep, spec={**spec, "input_size": input_size(spec)}, seed=seed,
                       threads=threads, device=device)
    raise ValueError(f"unknown model kind {kind!r}; known: {list(model_kinds())}")
