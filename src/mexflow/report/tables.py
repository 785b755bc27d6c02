"""The metrics table: one row per (condition, feature_set, model, protocol), and its Markdown."""
from __future__ import annotations

import pandas as pd

METRIC_COLUMNS = ["condition", "feature_set", "model", "protocol", "target", "accuracy", "uf1",
                  "uar", "uf1_ci_low", "uf1_ci_high", "uar_ci_low", "uar_ci_high", "n_clips",
                  "n_subjects", "n_folds", "n_features", "chance_uf1_uar", "majority_accuracy",
                  "excluded_no_target_label", "excluded_missing_from_bank"]


def metrics_frame(summaries: list[dict]) -> pd.DataFrame:
    """Evaluation summaries (as written by the evaluate rule) -> tidy metrics table."""
    rows = []
    for s in summaries:
        rows.append({**{k: s[k] for k in METRIC_COLUMNS if k in s},
                     "uf1_ci_low": s["uf1_ci"][0], "uf1_ci_high": s["uf1_ci"][1],
                     "uar_ci_low": s["uar_ci"][0], "uar_ci_high": s["uar_ci"][1]})
    df = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return df.sort_values(["condition", "feature_set", "model", "protocol"]).reset_index(drop=True)


def markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(lines)


def render_markdown(dataset: str, metrics: pd.DataFrame, summaries: list[dict],
                    index: pd.DataFrame, rejected: pd.DataFrame,
                    no_landmarks: pd.DataFrame | None = None) -> str:
    """A readable report: data accounting, the metrics table, confusion matrices.

    rejected: clips dropped by the index or alignment; no_landmarks: clips without FaceMesh
    landmarks (they stay in recognition; face-aware stages cannot use them)."""
    out = [f"# mexflow results: {dataset}", ""]
    out += ["## Data", "",
            f"- clips in the index: {len(index)} from {index['subject'].nunique()} subjects"]
    if index["dataset"].nunique() > 1:
        out.append("- corpora: " + ", ".join(f"{k}={v}" for k, v in index["dataset"].value_counts().sort_index().items()))
    out.append(f"- clips rejected (index or alignment): {len(rejected)}")
    for reason, n in rejected["reason"].value_counts().items() if len(rejected) else []:
        out.append(f"  - {n} x {reason}")
    if no_landmarks is not None:
        out.append(f"- clips without landmarks (kept for recognition): {len(no_landmarks)}")
    for target in ("class5", "class3", "objective"):
        if target not in index or index[target].isna().all():
            continue
        counts = index[target].value_counts(dropna=False)
        out.append(f"- {target}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    out += ["", "## Recognition (pooled over folds; 95 % subject-bootstrap intervals)", ""]
    view = metrics.copy()
    view["uf1 [CI]"] = [f"{u:.3f} [{lo:.3f}, {hi:.3f}]" for u, lo, hi in
                        zip(view["uf1"], view["uf1_ci_low"], view["uf1_ci_high"])]
    view["uar [CI]"] = [f"{u:.3f} [{lo:.3f}, {hi:.3f}]" for u, lo, hi in
                        zip(view["uar"], view["uar_ci_low"], view["uar_ci_high"])]
    out.append(markdown_table(view[["condition", "feature_set", "model", "protocol", "target", "accuracy",
                               "uf1 [CI]", "uar [CI]", "n_clips", "n_subjects", "n_folds",
                               "chance_uf1_uar"]]))
    out += ["", "Chance UF1/UAR is 1 / (number of classes present).", "", "## Confusion matrices", ""]
    for s in summaries:
        out.append(f"### {s['condition']} / {s['feature_set']} / {s['model']} / {s['protocol']}")
        out.append("")
        cm = pd.DataFrame(s["confusion"], index=s["classes"], columns=s["classes"])
        cm.insert(0, "true \\ predicted", cm.index)
        out += [markdown_table(cm), ""]
    return "\n".join(out) + "\n"
