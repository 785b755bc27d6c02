"""Figures of the recognition report: UF1/UAR bars with subject-bootstrap intervals, and
confusion matrices. Inputs are the metrics table (`tables.metrics_frame`) and the evaluation
summaries (dicts as written by the evaluate rule)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mexflow.io import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def recognition_bars(metrics: pd.DataFrame, path) -> None:
    """One row of panels per protocol, columns UF1 and UAR: a bar per (feature set, model) and
    condition, with the 95 % subject-bootstrap interval as an error bar and chance as a dashed
    line. Writes a PNG atomically."""
    plt = _plt()
    # subject-independent protocols first (LOSO leading), the leave-one-sample-out contrast last
    leaky = set(metrics.loc[~metrics["subject_independent"].astype(bool), "protocol"])
    protocols = sorted(metrics["protocol"].unique(), key=lambda p: (p in leaky, p != "loso", p))
    conditions = list(dict.fromkeys(metrics["condition"]))
    fig, axes = plt.subplots(len(protocols), 2, squeeze=False,
                             figsize=(max(8.0, 0.3 * len(metrics) / max(len(protocols), 1) + 4), 3.2 * len(protocols)))
    colours = plt.get_cmap("tab10")
    for row, protocol in enumerate(protocols):
        sub = metrics[metrics["protocol"] == protocol]
        groups = list(dict.fromkeys(zip(sub["feature_set"], sub["model"])))
        width = 0.8 / max(len(conditions), 1)
        for col, metric in enumerate(("uf1", "uar")):
            ax = axes[row, col]
            for k, cond in enumerate(conditions):
                cells = sub[sub["condition"] == cond].set_index(["feature_set", "model"])
                xs, ys, lo, hi = [], [], [], []
                for g, key in enumerate(groups):
                    if key in cells.index:
                        r = cells.loc[key]
                        xs.append(g - 0.4 + (k + 0.5) * width)
                        ys.append(r[metric])
                        lo.append(r[metric] - r[f"{metric}_ci_low"])
                        hi.append(r[f"{metric}_ci_high"] - r[metric])
                if xs:
                    ax.bar(xs, ys, width, yerr=[lo, hi], capsize=1.5, color=colours(k % 10),
                           label=cond, error_kw={"elinewidth": 0.6})
            chance = float(sub["chance_uf1_uar"].max())
            ax.axhline(chance, color="0.4", ls="--", lw=0.8)
            ax.set_xticks(range(len(groups)))
            ax.set_xticklabels([f"{f}\n{m}" for f, m in groups], fontsize=6, rotation=45, ha="right")
            ax.set_ylim(0, 1)
            ax.set_ylabel(metric.upper())
            note = " - CONTRAST, not subject-independent" if protocol in leaky else ""
            ax.set_title(f"{protocol}: {metric.upper()} (dashed: chance){note}", fontsize=9)
    axes[0, 1].legend(fontsize=6, ncol=2, loc="upper right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def confusion_panels(summaries: list[dict], max_panels: int = 24) -> list[dict]:
    """Which evaluations get a confusion-matrix panel: per (feature set, model, protocol) the
    `original` condition and the best condition by UF1 (if different), best cells first, at most
    max_panels."""
    df = pd.DataFrame([{k: s[k] for k in ("condition", "feature_set", "model", "protocol", "uf1")} | {"i": i}
                       for i, s in enumerate(summaries)])
    if df.empty:
        return []
    chosen = []
    for _, g in df.groupby(["feature_set", "model", "protocol"], sort=True):
        best = g.sort_values("uf1", ascending=False).iloc[0]
        chosen.append(int(best["i"]))
        orig = g[g["condition"] == "original"]
        if len(orig) and int(orig.iloc[0]["i"]) != int(best["i"]):
            chosen.append(int(orig.iloc[0]["i"]))
    chosen.sort(key=lambda i: -summaries[i]["uf1"])
    return [summaries[i] for i in chosen[:max_panels]]


def confusion_grid(summaries: list[dict], path, max_panels: int = 24) -> None:
    """Row-normalised confusion matrices (counts written in the cells) of `confusion_panels`."""
    plt = _plt()
    panels = confusion_panels(summaries, max_panels)
    n = max(len(panels), 1)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, squeeze=False, figsize=(3.3 * cols, 3.2 * rows))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, s in zip(axes.ravel(), panels):
        cm = np.asarray(s["confusion"], float)
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.axis("on")
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, int(v), ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
        labels = [c[:5] for c in s["classes"]]
        ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=45)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
        ax.set_title(f"{s['condition']} / {s['feature_set']}\n{s['model']} / {s['protocol']}: "
                     f"UF1 {s['uf1']:.2f}", fontsize=7)
    fig.supxlabel("predicted", fontsize=8)
    fig.supylabel("true", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
