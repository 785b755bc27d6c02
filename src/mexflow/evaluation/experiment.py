"""One cell of the experiment matrix: a bank, a model and a protocol on one dataset's index."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mexflow.bank import load_bank, load_vectors
from mexflow.datasets.labels import label_sets
from mexflow.evaluation.crossval import cross_validate
from mexflow.evaluation.metrics import au_macro_f1, confusion, pooled_metrics, subject_bootstrap_ci
from mexflow.evaluation.protocols import make_folds, protocol_properties
from mexflow.features.registry import data_layout
from mexflow.models.registry import input_size, make_fit_predict, model_input


def au_matrix(aus: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Per-clip AU lists (the index's `aus`, AU numbers) -> ((n, A) uint8 multi-hot, AU names
    "AU<k>" in ascending order of k over the AUs that occur)."""
    numbers = sorted({int(a) for clip in aus for a in clip})
    col = {a: j for j, a in enumerate(numbers)}
    out = np.zeros((len(aus), len(numbers)), np.uint8)
    for i, clip in enumerate(aus):
        for a in clip:
            out[i, col[int(a)]] = 1
    return out, [f"AU{a}" for a in numbers]


def load_inputs(bank_manifest: Path, clip_ids: list[str], feature: dict, model: dict
                ) -> tuple[np.ndarray, list[str]]:
    """The model's input from a bank: vectors (n, D) float32, or for deep models the dense data
    converted clip by clip to (n, C, T, S, S) float32 (S = the model's input_size)."""
    if model_input(model) == "vector":
        return load_vectors(bank_manifest, clip_ids)
    from mexflow.models.inputs import to_model_input

    layout = data_layout(feature)
    if layout is None:
        raise ValueError(f"feature kind {feature['kind']!r} has no dense data for model kind "
                         f"{model['kind']!r}; use a vector model or a feature set with data")
    size = input_size(model)
    return load_bank(bank_manifest, clip_ids, "data",
                     transform=lambda a: to_model_input(a[None], layout, size)[0])


def run_evaluation(index: pd.DataFrame, bank_manifest: Path, *, feature: dict, model: dict,
                   protocol: dict, target: str, seed: int, labels: dict, threads: int = 1,
                   device: str = "auto") -> tuple[pd.DataFrame, dict]:
    """Evaluate `model` on the bank under `protocol`.

    Clips without a label in `target` (e.g. 'others' for class3) and clips missing from the
    bank (rejected at an earlier stage) are left out and counted in the summary. Deep models also
    learn the clips' AUs (an auxiliary head); their AU predictions are scored by AU macro F1.
    Returns (per-clip predictions of the tested clips, summary dict with pooled metrics,
    bootstrap intervals and accounting).
    """
    classes = label_sets()[target]
    labelled = index[index[target].notna()]
    X, missing = load_inputs(bank_manifest, labelled["clip_id"].tolist(), feature, model)
    used = labelled[~labelled["clip_id"].isin(set(missing))]
    y = used[target].astype(str).to_numpy()
    subjects = used["subject"].astype(str).to_numpy()
    deep = model_input(model) == "data"
    aux, au_names = au_matrix(used["aus"]) if deep else (None, [])
    props = protocol_properties(protocol)
    folds = make_folds(protocol, subjects, seed, corpora=used["dataset"].astype(str).to_numpy(), labels=y)
    preds = cross_validate(X, y, subjects, used["clip_id"].tolist(), folds,
                           make_fit_predict(model, seed, threads, device), aux=aux,
                           allow_subject_overlap=not props["subject_independent"],
                           full_coverage=props["covers_all_samples"])
    summary_au = {}
    if "aux_pred" in preds:
        tested = used.set_index("clip_id").index.get_indexer(preds["clip_id"])
        au_true, au_pred = aux[tested], np.stack(preds["aux_pred"].to_list())
        summary_au = au_macro_f1(au_true, au_pred, au_names)
        preds["au_true"] = [[n for n, v in zip(au_names, row) if v] for row in au_true]
        preds["au_pred"] = [[n for n, v in zip(au_names, row) if v] for row in au_pred]
        preds = preds.drop(columns="aux_pred")
    for key, value in labels.items():
        preds.insert(0, key, value)
    m = pooled_metrics(preds["y_true"], preds["y_pred"], classes)
    ci = {name: subject_bootstrap_ci(preds["y_true"], preds["y_pred"], preds["subject"], classes,
                                     name, n_boot=1000, seed=seed) for name in ("uf1", "uar")}
    present = [c for c in classes if (preds["y_true"] == c).any()]
    fixed = {"clip_id", "subject", "fold", "y_true", "y_pred", "au_true", "au_pred", *labels}
    chosen = [c for c in preds.columns if c not in fixed]
    summary = {
        **labels, "target": target, "classes": classes,
        "accuracy": m["accuracy"], "uf1": m["uf1"], "uar": m["uar"],
        "uf1_ci": list(ci["uf1"]), "uar_ci": list(ci["uar"]),
        "per_class": m["per_class"],
        "confusion": confusion(preds["y_true"], preds["y_pred"], classes).to_numpy().tolist(),
        "au_macro_f1": summary_au.get("au_macro_f1"), "per_au": summary_au.get("per_au"),
        "subject_independent": props["subject_independent"],
        "n_clips": int(len(used)), "n_tested": int(len(preds)),
        "n_subjects": int(len(set(subjects))), "n_test_subjects": int(preds["subject"].nunique()),
        "n_folds": len(folds),
        "corpora": sorted(set(used["dataset"].astype(str))),
        "n_features": int(np.prod(X.shape[1:])),
        "excluded_no_target_label": int(len(index) - len(labelled)),
        "excluded_missing_from_bank": len(missing),
        "chance_uf1_uar": 1.0 / max(len(present), 1),
        "majority_accuracy": float(pd.Series(y).value_counts(normalize=True).iloc[0]) if len(y) else float("nan"),
        # hyper-parameters chosen on the training subjects of each fold (C, epochs, ...)
        "selected_per_fold": {str(f): {k: _plain(v) for k, v in row.items()}
                              for f, row in preds.groupby("fold")[chosen].first().iterrows()} if chosen else {},
    }
    return preds, summary


def _plain(value):
    """numpy scalars -> Python (JSON) scalars."""
    return value.item() if isinstance(value, np.generic) else value
