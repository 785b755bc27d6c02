"""One cell of the experiment matrix: a bank, a model and a protocol on one dataset's index."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mexflow.bank import load_vectors
from mexflow.datasets.labels import label_sets
from mexflow.evaluation.crossval import cross_validate
from mexflow.evaluation.metrics import confusion, pooled_metrics, subject_bootstrap_ci
from mexflow.evaluation.protocols import make_folds
from mexflow.models.registry import make_fit_predict


def run_evaluation(index: pd.DataFrame, bank_manifest: Path, *, model: dict, protocol: dict,
                   target: str, seed: int, labels: dict) -> tuple[pd.DataFrame, dict]:
    """Cross-validate `model` on the bank's vectors under `protocol`.

    Clips without a label in `target` (e.g. 'others' for class3) and clips missing from the
    bank (rejected at an earlier stage) are left out and counted in the summary.
    Returns (per-clip predictions, summary dict with pooled metrics and accounting).
    """
    classes = label_sets()[target]
    labelled = index[index[target].notna()]
    X, missing = load_vectors(bank_manifest, labelled["clip_id"].tolist())
    used = labelled[~labelled["clip_id"].isin(set(missing))]
    y = used[target].astype(str).to_numpy()
    subjects = used["subject"].astype(str).to_numpy()
    folds = make_folds(protocol, subjects, seed, corpora=used["dataset"].astype(str).to_numpy())
    preds = cross_validate(X, y, subjects, used["clip_id"].tolist(), folds,
                           make_fit_predict(model, seed))
    for key, value in labels.items():
        preds.insert(0, key, value)
    m = pooled_metrics(preds["y_true"], preds["y_pred"], classes)
    ci = {name: subject_bootstrap_ci(preds["y_true"], preds["y_pred"], preds["subject"], classes,
                                     name, n_boot=1000, seed=seed) for name in ("uf1", "uar")}
    present = [c for c in classes if (y == c).any()]
    summary = {
        **labels, "target": target, "classes": classes,
        "accuracy": m["accuracy"], "uf1": m["uf1"], "uar": m["uar"],
        "uf1_ci": list(ci["uf1"]), "uar_ci": list(ci["uar"]),
        "per_class": m["per_class"],
        "confusion": confusion(preds["y_true"], preds["y_pred"], classes).to_numpy().tolist(),
        "n_clips": int(len(used)), "n_subjects": int(len(set(subjects))), "n_folds": len(folds),
        "corpora": sorted(set(used["dataset"].astype(str))),
        "n_features": int(X.shape[1]),
        "excluded_no_target_label": int(len(index) - len(labelled)),
        "excluded_missing_from_bank": len(missing),
        "chance_uf1_uar": 1.0 / max(len(present), 1),
        "majority_accuracy": float(pd.Series(y).value_counts(normalize=True).iloc[0]) if len(y) else float("nan"),
        "chosen_C_per_fold": (preds.groupby("fold")["C"].first().to_dict() if "C" in preds else {}),
    }
    return preds, summary
