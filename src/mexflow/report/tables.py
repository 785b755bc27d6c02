"""The metrics table: one row per (condition, feature_set, model, protocol), the data accounting,
and the readable reports (Markdown and HTML) built from them."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import yaml

METRIC_COLUMNS = ["condition", "feature_set", "model", "protocol", "target", "accuracy", "uf1",
                  "uar", "uf1_ci_low", "uf1_ci_high", "uar_ci_low", "uar_ci_high", "au_macro_f1",
                  "subject_independent", "n_clips", "n_tested", "n_subjects", "n_test_subjects",
                  "n_folds", "n_features", "chance_uf1_uar", "majority_accuracy",
                  "excluded_no_target_label", "excluded_missing_from_bank",
                  "n_predicted_classes", "single_predicted_class"]

CONTRAST_NOTE = ("leave-one-sample-out contrast: NOT subject-independent (a test subject's other "
                 "clips are in training, so identity leaks); shown only to measure how much that "
                 "inflates the numbers, never a result")


def predicted_classes(summary: dict) -> list[str]:
    """The classes an evaluation predicted at least once (columns of its confusion matrix with
    a non-zero sum), in the order of its class list."""
    cm = np.asarray(summary["confusion"], dtype=float).reshape(len(summary["classes"]), -1)
    return [c for c, n in zip(summary["classes"], cm.sum(axis=0)) if n > 0]


def single_class(summary: dict) -> str | None:
    """The one class a single-class predictor always predicts (None if it predicts several, or
    nothing was tested). Such a model has learned nothing: its UAR is 1 / classes present."""
    pred = predicted_classes(summary)
    return pred[0] if len(pred) == 1 else None


def metrics_frame(summaries: list[dict]) -> pd.DataFrame:
    """Evaluation summaries (as written by the evaluate rule) -> tidy metrics table."""
    rows = []
    for s in summaries:
        rows.append({**{k: s[k] for k in METRIC_COLUMNS if k in s},
                     "au_macro_f1": np.nan if s.get("au_macro_f1") is None else s["au_macro_f1"],
                     "uf1_ci_low": s["uf1_ci"][0], "uf1_ci_high": s["uf1_ci"][1],
                     "uar_ci_low": s["uar_ci"][0], "uar_ci_high": s["uar_ci"][1],
                     "n_predicted_classes": len(predicted_classes(s)),
                     "single_predicted_class": single_class(s)})
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


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_cell(v).replace("|", "\\|") for v in r) + " |")
    return "\n".join(lines)


def flag_of(row) -> str:
    """The warning a metrics row carries: a single-class predictor, the leaky contrast."""
    flags = []
    if isinstance(row.get("single_predicted_class"), str):
        flags.append(f"single-class predictor (always {row['single_predicted_class']})")
    if not bool(row.get("subject_independent", True)):
        flags.append("leaky contrast")
    return "; ".join(flags)


def display_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """The metrics table as people read it: intervals next to UF1 / UAR, counts last, a flag."""
    view = metrics.copy()
    view["uf1 [CI]"] = [f"{u:.3f} [{lo:.3f}, {hi:.3f}]" for u, lo, hi in
                        zip(view["uf1"], view["uf1_ci_low"], view["uf1_ci_high"])]
    view["uar [CI]"] = [f"{u:.3f} [{lo:.3f}, {hi:.3f}]" for u, lo, hi in
                        zip(view["uar"], view["uar_ci_low"], view["uar_ci_high"])]
    view["au F1"] = ["" if pd.isna(v) else f"{v:.3f}" for v in view["au_macro_f1"]]
    view["chance"] = view["chance_uf1_uar"]
    view["flag"] = [flag_of(r) for _, r in metrics.iterrows()]
    # the flag next to the cell's name, where a narrow window still shows it; the target is one
    # per dataset (the page's lead says which)
    return view[["condition", "feature_set", "model", "protocol", "flag", "accuracy", "uf1 [CI]",
                 "uar [CI]", "au F1", "chance", "n_tested", "n_subjects", "n_folds"]]


# ------------------------------------------------------------------------------ data accounting

def _ids(frame: pd.DataFrame | None) -> set[str]:
    return set() if frame is None or "clip_id" not in frame else set(frame["clip_id"].astype(str))


def data_accounting(index: pd.DataFrame, summaries: list[dict], target: str | None = None,
                    index_rejected: pd.DataFrame | None = None,
                    aligned_rejected: pd.DataFrame | None = None,
                    no_landmarks: pd.DataFrame | None = None) -> dict:
    """Where the clips went: {"stages": one row per stage (clips in, left out, note),
    "reasons": one row per (stage, reason) with the count and example clips, "per_subject":
    clips available for recognition per subject (rows) and class (columns) with totals,
    "per_cell": evaluations grouped by the clips they used and left out, "labels": counts of
    every label set in the index}.

    index_rejected: clips the index dropped (bad annotations); aligned_rejected: clips alignment
    dropped; no_landmarks: clips without face landmarks (kept for recognition)."""
    target = target or (summaries[0]["target"] if summaries else "class5")
    index_rejected = index_rejected if index_rejected is not None else pd.DataFrame(columns=["clip_id", "reason"])
    aligned_rejected = aligned_rejected if aligned_rejected is not None else pd.DataFrame(columns=["clip_id", "reason"])
    aligned_ids = _ids(aligned_rejected)
    aligned = index[~index["clip_id"].astype(str).isin(aligned_ids)] if "clip_id" in index else index
    labelled = aligned[aligned[target].notna()] if target in aligned else aligned.iloc[:0]
    n_subjects = index["subject"].nunique() if len(index) else 0
    corpora = index["dataset"].value_counts().sort_index() if "dataset" in index else pd.Series(dtype=int)
    stages = [
        ("annotated", len(index) + len(index_rejected),
         "clips listed in the corpus annotations" + (
             " (" + ", ".join(f"{k}: {v}" for k, v in corpora.items()) + " indexed)" if len(corpora) > 1 else "")),
        ("rejected at indexing", len(index_rejected), "bad or unknown annotations (reasons below)"),
        ("indexed", len(index), f"{n_subjects} subjects"),
        ("rejected at alignment", len(aligned_ids & _ids(index)), "no usable face (reasons below)"),
    ]
    if no_landmarks is not None:
        stages.append(("without landmarks", len(_ids(no_landmarks)),
                       "kept for recognition; face-aware magnifiers and region metrics skip them"))
    stages.append((f"without a {target} label", len(aligned) - len(labelled),
                   f"left out of recognition (e.g. a label outside the {target} classes)"))
    stages.append(("available for recognition", len(labelled),
                   f"{labelled['subject'].nunique() if len(labelled) else 0} subjects"))
    if "apex_source" in index and (index["apex_source"] != "annotated").any():
        counts = index["apex_source"].value_counts()
        stages.append(("apex frame not annotated", int((index["apex_source"] != "annotated").sum()),
                       "apex source: " + ", ".join(f"{k} {v}" for k, v in counts.items())))
    stage_frame = pd.DataFrame(stages, columns=["stage", "clips", "note"])

    reasons = []
    for stage, frame in (("indexing", index_rejected), ("alignment", aligned_rejected),
                         ("landmarks", no_landmarks)):
        if frame is None or not len(frame) or "reason" not in frame:
            continue
        for reason, g in frame.groupby(frame["reason"].astype(str), sort=True):
            ids = g["clip_id"].astype(str).tolist() if "clip_id" in g else []
            reasons.append((stage, reason, len(g), ", ".join(ids[:3]) + (" …" if len(ids) > 3 else "")))
    reason_frame = pd.DataFrame(reasons, columns=["stage", "reason", "clips", "examples"])

    classes = list(dict.fromkeys([*(summaries[0]["classes"] if summaries else []),
                                  *sorted(labelled[target].astype(str).unique() if len(labelled) else [])]))
    per_subject = pd.crosstab(labelled["subject"].astype(str), labelled[target].astype(str)) \
        if len(labelled) else pd.DataFrame()
    per_subject = per_subject.reindex(columns=classes, fill_value=0)
    per_subject["total"] = per_subject.sum(axis=1)
    per_subject.loc["total"] = per_subject.sum(axis=0)
    per_subject = per_subject.reset_index().rename(columns={"index": "subject", "subject": "subject"})
    per_subject.columns.name = None

    cells = pd.DataFrame([{k: s.get(k) for k in ("n_clips", "n_tested", "excluded_no_target_label",
                                                    "excluded_missing_from_bank")}
                          | {"protocol": s["protocol"]} for s in summaries])
    per_cell = (cells.groupby(["n_clips", "n_tested", "excluded_no_target_label", "excluded_missing_from_bank"],
                              dropna=False)
                .agg(evaluations=("protocol", "size"), protocols=("protocol", lambda p: ", ".join(sorted(set(p)))))
                .reset_index()) if len(cells) else cells
    labels = {t: index[t].value_counts(dropna=False).to_dict() for t in ("class5", "class3", "objective")
              if t in index and not index[t].isna().all()}
    return {"target": target, "stages": stage_frame, "reasons": reason_frame,
            "per_subject": per_subject, "per_cell": per_cell, "labels": labels}


def _labels_line(labels: dict) -> list[str]:
    return [f"{t}: " + ", ".join(f"{'(none)' if pd.isna(k) else k} {v}" for k, v in counts.items())
            for t, counts in labels.items()]


def config_yaml(config: dict | None) -> str:
    """The configuration as YAML, keys sorted (what the report embeds)."""
    return yaml.safe_dump(config or {}, sort_keys=True, default_flow_style=None, allow_unicode=True, width=100)


def confusion_frame(s: dict) -> pd.DataFrame:
    """One evaluation's confusion matrix as a table: true classes as rows, predicted classes as
    columns, then per-class recall, F1 and support."""
    cm = pd.DataFrame(s["confusion"], index=s["classes"], columns=s["classes"])
    cm.insert(0, "true \\ predicted", cm.index)
    cm["recall"] = [s["per_class"][c]["recall"] for c in s["classes"]]
    cm["f1"] = [s["per_class"][c]["f1"] for c in s["classes"]]
    cm["support"] = [s["per_class"][c]["support"] for c in s["classes"]]
    return cm.reset_index(drop=True)


def _ordered(summaries: list[dict]) -> list[dict]:
    """Subject-independent evaluations first, the contrast last; then by cell name."""
    return sorted(summaries, key=lambda s: (not s["subject_independent"], s["condition"], s["feature_set"],
                                            s["model"], s["protocol"]))


def _cell_name(s: dict) -> str:
    return f"{s['condition']} / {s['feature_set']} / {s['model']} / {s['protocol']}"


# ------------------------------------------------------------------------------ Markdown

def render_markdown(dataset: str, metrics: pd.DataFrame, summaries: list[dict],
                    index: pd.DataFrame, rejected: pd.DataFrame | None = None,
                    no_landmarks: pd.DataFrame | None = None, *,
                    aligned_rejected: pd.DataFrame | None = None, config: dict | None = None,
                    target: str | None = None) -> str:
    """A readable report: data accounting, the metrics table (the contrast apart), confusion
    matrices, the configuration used.

    rejected: clips dropped by the index; aligned_rejected: by alignment; no_landmarks: clips
    without FaceMesh landmarks (they stay in recognition; face-aware stages cannot use them)."""
    acc = data_accounting(index, summaries, target, rejected, aligned_rejected, no_landmarks)
    out = [f"# mexflow results: {dataset}", "", "## Data accounting", "",
           markdown_table(acc["stages"]), ""]
    if len(acc["reasons"]):
        out += ["Rejections by reason:", "", markdown_table(acc["reasons"]), ""]
    out += [f"Clips available for recognition per subject and {acc['target']} class:", "",
            markdown_table(acc["per_subject"]), "",
            "Clips each evaluation used (n_clips), tested and left out:", "",
            markdown_table(acc["per_cell"]), ""]
    out += ["Labels in the index: " + "; ".join(_labels_line(acc["labels"])), ""]
    out += ["## Recognition (pooled over folds; 95 % subject-bootstrap intervals)", ""]
    view = display_frame(metrics)
    independent = metrics["subject_independent"].astype(bool).to_numpy()
    out.append(markdown_table(view[independent]))
    singles = metrics[metrics["single_predicted_class"].notna()]
    if len(singles):
        out += ["", f"**{len(singles)} single-class predictor(s)**: every test clip got the same class, "
                "so the model learned nothing (UAR = chance); their UF1 / UAR are not results."]
    if (~independent).any():
        out += ["", "## Contrast: not subject-independent (leave-one-sample-out)", "",
                f"**LEAKY CONTRAST** - {CONTRAST_NOTE}; never compare these with the table above "
                "as results.", "", markdown_table(view[~independent])]
    out += ["", "Chance UF1/UAR is 1 / (number of classes present).", "", "## Confusion matrices", "",
            "Rows: true class; columns: predicted class; clip counts pooled over folds.", ""]
    for s in _ordered(summaries):
        marks = []
        if not s["subject_independent"]:
            marks.append("LEAKY CONTRAST")
        if single_class(s):
            marks.append(f"single-class predictor: always {single_class(s)}")
        out.append(f"### {_cell_name(s)}" + (f" ({'; '.join(marks)})" if marks else ""))
        out += ["", f"UF1 {s['uf1']:.3f}, UAR {s['uar']:.3f}, accuracy {s['accuracy']:.3f}", "",
                markdown_table(confusion_frame(s)), ""]
    if config is not None:
        out += ["## Configuration used", "",
                "The Snakemake configuration of this run (config.yaml merged with any --configfile / "
                "--config; defaults filled in; keys sorted):", "", "```yaml", config_yaml(config).rstrip(), "```", ""]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ HTML

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:1.5em;
     color:#222;max-width:1400px}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}
h3{font-size:1em;margin:.2em 0}
table{border-collapse:collapse;font-size:12px;margin:.4em 0 1em}
td,th{border:1px solid #bbb;padding:2px 6px;text-align:right;vertical-align:top}
th{background:#eee}
td{white-space:nowrap}
td.text,th.text{text-align:left}
td.text.long{white-space:normal}
td.zero{color:#aaa}
tr.single td{background:#fde8e8}
tr.total td{font-weight:700;border-top:2px solid #888}
td.flag{color:#a00000;font-weight:600;text-align:left}
.badge{display:inline-block;padding:1px 6px;border-radius:3px;font-size:11px;font-weight:700;
       color:#fff;margin-left:4px}
.badge.leak{background:#b35900}.badge.single{background:#b00020}
.contrast{border:3px solid #b35900;padding:.2em 1em;margin:1em 0;
          background:repeating-linear-gradient(45deg,#fff7ee,#fff7ee 10px,#fdebd3 10px,#fdebd3 20px)}
.contrast h2{border-bottom-color:#b35900;color:#8a4500}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.cm{border:1px solid #ccc;padding:6px;background:#fff}
.cm.leak{border:3px solid #b35900;background:#fff7ee}
.cm.single{border:3px solid #b00020}
.cm table{margin:.3em 0 0}
.cm td.diag{background:#dbe9f6;font-weight:600}
.note{color:#444;font-size:13px;max-width:70em}
nav a{margin-right:1em}
pre{background:#f6f6f6;border:1px solid #ddd;padding:.6em;font-size:12px;overflow:auto}
details summary{cursor:pointer;font-weight:600}
"""


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object and not all(isinstance(v, (int, float, np.number)) for v in series.dropna())


def html_table(df: pd.DataFrame, row_class=None, cell_class=None) -> str:
    """An HTML table of df: text columns left-aligned, numbers right-aligned (floats to 3
    decimals), zeros greyed. row_class(i) / cell_class(i, j) -> extra CSS class or ''."""
    text = [_is_text(df[c]) for c in df.columns]
    # a long header may break after an underscore or before its unit, never inside a number
    head = "".join(f"<th class='{'text' if t else ''}'>"
                   + html.escape(str(c)).replace("_", "_<wbr>").replace(" (", "<wbr> (") + "</th>"
                   for c, t in zip(df.columns, text))
    rows = []
    for i, (_, r) in enumerate(df.iterrows()):
        cells = []
        for j, (v, t) in enumerate(zip(r, text)):
            cls = ["text"] if t else []
            if not t and isinstance(v, (int, float, np.number)) and not pd.isna(v) and v == 0:
                cls.append("zero")
            if cell_class:
                cls.append(cell_class(i, j))
            if df.columns[j] == "flag" and v:
                cls.append("flag")
            if t and len(_cell(v)) > 60:
                cls.append("long")
            cells.append(f"<td class='{' '.join(c for c in cls if c)}'>{html.escape(_cell(v))}</td>")
        rc = row_class(i) if row_class else ""
        rows.append(f"<tr class='{rc}'>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"


def html_page(title: str, sections: list[tuple[str, pd.DataFrame | str]]) -> str:
    """A small self-contained HTML page: a title, then (heading, table or paragraph) sections."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(body, pd.DataFrame):
            parts.append(html_table(body))
        else:
            parts.append(f"<p class='note'>{html.escape(body)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _confusion_html(s: dict) -> str:
    leak, single = not s["subject_independent"], single_class(s)
    badges = ""
    if leak:
        badges += "<span class='badge leak'>LEAKY CONTRAST</span>"
    if single:
        badges += f"<span class='badge single'>single-class predictor: always {html.escape(single)}</span>"
    cm = confusion_frame(s)
    k = len(s["classes"])
    table = html_table(cm, cell_class=lambda i, j: "diag" if j == i + 1 and j <= k else "")
    css = " ".join(c for c in ("cm", "leak" if leak else "", "single" if single else "") if c)
    return (f"<div class='{css}'><h3>{html.escape(_cell_name(s))}{badges}</h3>"
            f"<div class='note'>UF1 {s['uf1']:.3f} · UAR {s['uar']:.3f} · accuracy {s['accuracy']:.3f} · "
            f"{s['n_tested']} clips tested</div>{table}</div>")


def _glance(config: dict) -> str:
    """The settings a reader looks for first, above the collapsed YAML."""
    items = [("datasets", ", ".join(sorted(config.get("datasets", {})))), ("target", config.get("target")),
             ("seed", config.get("seed")), ("conditions", ", ".join(map(str, config.get("conditions", [])))),
             ("feature sets", ", ".join(sorted(config.get("features", {})))),
             ("models", ", ".join(sorted(config.get("models", {})))),
             ("protocols", ", ".join(sorted(config.get("protocols", {})))),
             ("experiments", ", ".join(sorted(config.get("experiments") or {})) or "every compatible cell")]
    return "<table>" + "".join(f"<tr><th class='text'>{html.escape(k)}</th><td class='text'>{html.escape(str(v))}</td></tr>"
                               for k, v in items if v not in (None, "")) + "</table>"


def render_html(dataset: str, metrics: pd.DataFrame, summaries: list[dict] | None = None,
                index: pd.DataFrame | None = None, rejected: pd.DataFrame | None = None,
                aligned_rejected: pd.DataFrame | None = None, no_landmarks: pd.DataFrame | None = None,
                config: dict | None = None, target: str | None = None) -> str:
    """metrics.html: the data accounting (with the index), the metrics table with single-class
    predictors flagged, the leave-one-sample-out contrast in a marked box, every evaluation's
    confusion matrix as a table (with the summaries), and the configuration used (YAML)."""
    summaries = summaries or []
    title = f"mexflow results: {dataset}"
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{e(title)}</h1>"]
    nav = [("data", "Data accounting"), ("results", "Results"), ("contrast", "Leaky contrast"),
           ("confusion", "Confusion matrices"), ("config", "Configuration used")]
    independent = metrics["subject_independent"].astype(bool).to_numpy()
    has = {"data": index is not None, "results": True, "contrast": bool((~independent).any()),
           "confusion": bool(summaries), "config": config is not None}
    parts.append("<nav>" + "".join(f"<a href='#{k}'>{v}</a>" for k, v in nav if has[k]) + "</nav>")
    n_single = int(metrics["single_predicted_class"].notna().sum())
    tgt = target or (metrics["target"].iloc[0] if len(metrics) else "")
    parts.append(f"<p class='note'>{len(metrics)} evaluations of the {e(str(tgt))} target"
                 + (f"; <b style='color:#b00020'>{n_single} single-class predictor(s)</b> flagged" if n_single else "")
                 + (f"; {int((~independent).sum())} leaky-contrast row(s) shown apart" if (~independent).any() else "")
                 + ".</p>")
    if index is not None:
        acc = data_accounting(index, summaries, target, rejected, aligned_rejected, no_landmarks)
        parts.append("<h2 id='data'>Data accounting</h2>")
        parts.append("<p class='note'>Every clip of the corpora, from the annotations to the clips the "
                     "recognisers saw.</p>" + html_table(acc["stages"]))
        if len(acc["reasons"]):
            parts.append("<h3>Rejections by reason</h3>" + html_table(acc["reasons"]))
        parts.append(f"<h3>Clips available for recognition per subject and {e(acc['target'])} class</h3>"
                     + html_table(acc["per_subject"], row_class=lambda i: "" if i < len(acc["per_subject"]) - 1
                                  else "total"))
        parts.append("<h3>Clips each evaluation used and left out</h3>"
                     "<p class='note'>n_clips: labelled clips found in the feature bank; excluded: without "
                     "a target label, or missing from the bank (rejected upstream).</p>"
                     + html_table(acc["per_cell"]))
        parts.append("<p class='note'>Labels in the index: " + e("; ".join(_labels_line(acc["labels"]))) + "</p>")
    view = display_frame(metrics)
    single_rows = metrics["single_predicted_class"].notna().to_numpy()
    parts.append("<h2 id='results'>Results: subject-independent protocols</h2><p class='note'>Predictions "
                 "pooled over all folds; 95 % subject-bootstrap intervals. UF1 = mean per-class F1, UAR = "
                 "mean per-class recall; chance = 1 / classes present; au F1 = AU macro F1 of the models "
                 "with an AU head. <b style='color:#b00020'>Red rows</b>: single-class predictors (every "
                 "test clip got the same class; UAR = chance by construction), not results.</p>")
    ind_rows = np.flatnonzero(independent)
    parts.append(html_table(view[independent].reset_index(drop=True),
                            row_class=lambda i: "single" if single_rows[ind_rows[i]] else ""))
    if (~independent).any():
        leak_rows = np.flatnonzero(~independent)
        parts.append("<div class='contrast'><h2 id='contrast'>Leaky contrast: leave-one-sample-out "
                     "<span class='badge leak'>NOT subject-independent</span></h2>"
                     f"<p class='note'><b>{e(CONTRAST_NOTE[0].upper() + CONTRAST_NOTE[1:])}.</b></p>"
                     + html_table(view[~independent].reset_index(drop=True),
                                  row_class=lambda i: "single" if single_rows[leak_rows[i]] else "")
                     + "</div>")
    if summaries:
        parts.append("<h2 id='confusion'>Confusion matrices</h2><p class='note'>Every evaluation: rows "
                     "true class, columns predicted class, clip counts pooled over folds (diagonal "
                     "shaded, zeros grey), then per-class recall, F1 and support. Subject-independent "
                     "protocols first; the leaky contrast last, framed in orange.</p><div class='grid'>"
                     + "".join(_confusion_html(s) for s in _ordered(summaries)) + "</div>")
    if config is not None:
        parts.append("<h2 id='config'>Configuration used</h2><p class='note'>The Snakemake configuration "
                     "of this run as the workflow resolved it (config.yaml merged with any --configfile "
                     "/ --config, schema defaults filled in, keys sorted).</p>"
                     + _glance(config) +
                     f"<details><summary>config (YAML, {len(config_yaml(config).splitlines())} lines)</summary>"
                     f"<pre class='config'>{e(config_yaml(config))}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)
