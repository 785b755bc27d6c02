"""The metrics table: one row per (condition, feature_set, model, protocol), and its Markdown."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

METRIC_COLUMNS = ["condition", "feature_set", "model", "protocol", "target", "accuracy", "uf1",
                  "uar", "uf1_ci_low", "uf1_ci_high", "uar_ci_low", "uar_ci_high", "au_macro_f1",
                  "subject_independent", "n_clips", "n_tested", "n_subjects", "n_test_subjects",
                  "n_folds", "n_features", "chance_uf1_uar", "majority_accuracy",
                  "excluded_no_target_label", "excluded_missing_from_bank"]


def metrics_frame(summaries: list[dict]) -> pd.DataFrame:
    """Evaluation summaries (as written by the evaluate rule) -> tidy metrics table."""
    rows = []
    for s in summaries:
        rows.append({**{k: s[k] for k in METRIC_COLUMNS if k in s},
                     "au_macro_f1": np.nan if s.get("au_macro_f1") is None else s["au_macro_f1"],
                     "uf1_ci_low": s["uf1_ci"][0], "uf1_ci_high": s["uf1_ci"][1],
                     "uar_ci_low": s["uar_ci"][0], "uar_ci_high": s["uar_ci"][1]})
    df = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return df.sort_values(["condition", "feature_set", "model", "protocol"]).reset_index(drop=True)


def per_class_frame(summaries: list[dict]) -> pd.DataFrame:
    """Per-class recall, F1 and support of every evaluation (and per-AU F1 where AUs are
    predicted): one row per (condition, feature_set, model, protocol, kind, name)."""
    keys = ("condition", "feature_set", "model", "protocol")
    rows = []
    for s in summaries:
        for name, v in s["per_class"].items():
            rows.append({**{k: s[k] for k in keys}, "kind": "class", "name": name,
                         "recall": v["recall"], "f1": v["f1"], "support": v["support"]})
        for name, v in (s.get("per_au") or {}).items():
            rows.append({**{k: s[k] for k in keys}, "kind": "au", "name": name,
                         "recall": None, "f1": v["f1"], "support": v["support"]})
    df = pd.DataFrame(rows, columns=[*keys, "kind", "name", "recall", "f1", "support"])
    return df.astype({"recall": float, "f1": float})


def markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(lines)


def display_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """The metrics table as people read it: intervals next to UF1 / UAR, counts last."""
    view = metrics.copy()
    view["uf1 [CI]"] = [f"{u:.3f} [{lo:.3f}, {hi:.3f}]" for u, lo, hi in
                        zip(view["uf1"], view["uf1_ci_low"], view["uf1_ci_high"])]
    view["uar [CI]"] = [f"{u:.3f} [{lo:.3f}, {hi:.3f}]" for u, lo, hi in
                        zip(view["uar"], view["uar_ci_low"], view["uar_ci_high"])]
    view["au F1"] = ["" if pd.isna(v) else f"{v:.3f}" for v in view["au_macro_f1"]]
    return view[["condition", "feature_set", "model", "protocol", "target", "accuracy", "uf1 [CI]",
                 "uar [CI]", "au F1", "n_tested", "n_subjects", "n_folds", "chance_uf1_uar"]]


def html_page(title: str, sections: list[tuple[str, pd.DataFrame | str]]) -> str:
    """A small self-contained HTML page: a title, then (heading, table or paragraph) sections."""
    style = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}th{background:#eee}"
             "td:first-child,th:first-child{text-align:left}")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(body, pd.DataFrame):
            parts.append(body.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="",
                                      border=0))
        else:
            parts.append(f"<p>{html.escape(body)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_html(dataset: str, metrics: pd.DataFrame) -> str:
    """The metrics table as an HTML page (subject-independent protocols, then the contrast)."""
    view = display_frame(metrics)
    independent = metrics["subject_independent"].astype(bool).to_numpy()
    sections = [("Subject-independent protocols (pooled predictions, 95 % subject-bootstrap "
                 "intervals)", view[independent])]
    if (~independent).any():
        sections.append(("Contrast: leave-one-sample-out (NOT subject-independent; identity leaks)",
                         view[~independent]))
    sections.append(("Reading the table", "UF1 = mean per-class F1, UAR = mean per-class recall, "
                     "both on predictions pooled over all folds; chance = 1 / classes present; "
                     "au F1 = AU macro F1 of the models with an AU head."))
    return html_page(f"mexflow results: {dataset}", sections)


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
    view = display_frame(metrics)
    independent = metrics["subject_independent"].astype(bool).to_numpy()
    out.append(markdown_table(view[independent]))
    if (~independent).any():
        out += ["", "## Contrast: not subject-independent (leave-one-sample-out)", "",
                "Shown only to measure how much identity leakage inflates the numbers; never "
                "compare these with the table above as results.", "",
                markdown_table(view[~independent])]
    out += ["", "Chance UF1/UAR is 1 / (number of classes present).", "", "## Confusion matrices", ""]
    for s in summaries:
        out.append(f"### {s['condition']} / {s['feature_set']} / {s['model']} / {s['protocol']}")
        out.append("")
        cm = pd.DataFrame(s["confusion"], index=s["classes"], columns=s["classes"])
        cm.insert(0, "true \\ predicted", cm.index)
        cm["recall"] = [s["per_class"][c]["recall"] for c in s["classes"]]
        cm["f1"] = [s["per_class"][c]["f1"] for c in s["classes"]]
        out += [markdown_table(cm), ""]
    return "\n".join(out) + "\n"
