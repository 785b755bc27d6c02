"""Figures of the recognition report: UF1/UAR bars with subject-bootstrap intervals, and
confusion matrices. Inputs are the metrics table (`tables.metrics_frame`) and the evaluation
summaries (dicts as written by the evaluate rule).

Readable at a glance: horizontal bars with the full (feature set, model) names, the figure sized by
the number of bars, every value printed (a bar of value 0 still shows a tick at 0), the leaky
leave-one-sample-out contrast hatched and named in the legend, single-class predictors outlined
in red; confusion matrices with full class names and a colour bar each."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mexflow.io import atomic_path
from mexflow.report.tables import single_class

LEAK_COLOUR = "#b35900"    # the leave-one-sample-out contrast
SINGLE_COLOUR = "#b00020"  # single-class predictors
LEAK_HATCH = "///"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _protocol_order(metrics: pd.DataFrame) -> tuple[list[str], set[str]]:
    """Subject-independent protocols first (LOSO leading), the leave-one-sample-out contrast last."""
    leaky = set(metrics.loc[~metrics["subject_independent"].astype(bool), "protocol"])
    return sorted(metrics["protocol"].unique(), key=lambda p: (p in leaky, p != "loso", p)), leaky


def recognition_bars(metrics: pd.DataFrame, path) -> None:
    """`recognition_figure` written as a PNG (atomically)."""
    plt = _plt()
    fig = recognition_figure(metrics)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def recognition_figure(metrics: pd.DataFrame):
    """One row of panels per protocol, columns UF1 and UAR: a horizontal bar per (feature set,
    model) and condition, with the 95 % subject-bootstrap interval as an error bar, its value
    written beside it, and chance as a dashed line. The figure's height grows with the number
    of bars. Returns the matplotlib figure."""
    plt = _plt()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    protocols, leaky = _protocol_order(metrics)
    conditions = sorted(dict.fromkeys(metrics["condition"]), key=lambda c: (c != "original", c))
    # tab20's strong hues first, then their light partners: neighbours never share a hue
    palette = [plt.get_cmap("tab20")(i) for i in [*range(0, 20, 2), *range(1, 20, 2)]]
    colour = {c: palette[k % len(palette)] for k, c in enumerate(conditions)}
    bar_in = 0.2  # inches per bar
    gap = 0.6  # between (feature set, model) groups, in bar heights
    layout = []
    for protocol in protocols:
        sub = metrics[metrics["protocol"] == protocol]
        groups = sorted(dict.fromkeys(zip(sub["feature_set"], sub["model"])))
        # each group gets a slot only for the conditions evaluated on it (most are original-only)
        bars, ticks, y = [], [], 0.0
        for key in groups:
            mine = sub[(sub["feature_set"] == key[0]) & (sub["model"] == key[1])]
            present = [c for c in conditions if (mine["condition"] == c).any()]
            bars += [(mine[mine["condition"] == c].iloc[0], c, y + k) for k, c in enumerate(present)]
            ticks.append(y + (len(present) - 1) / 2)
            y += len(present) + gap
        layout.append((protocol, sub, groups, bars, ticks, y - gap))
    heights = [max(1.0, bar_in * span + 0.3) for *_, span in layout]
    label_chars = max(len(f"{f} / {m}") for _, _, groups, *_ in layout for f, m in groups)
    fig = plt.figure(figsize=(2 * 5.2 + 0.075 * label_chars, sum(heights) + 0.75 * len(layout) + 1.0),
                     layout="constrained")
    grid = fig.add_gridspec(len(layout), 2, height_ratios=heights)
    any_single = metrics["single_predicted_class"].notna().any() if "single_predicted_class" in metrics else False
    longest = max(map(len, conditions))
    for row, (protocol, sub, groups, bars, ticks, span) in enumerate(layout):
        leak = protocol in leaky
        for col, metric in enumerate(("uf1", "uar")):
            ax = fig.add_subplot(grid[row, col])
            for r, cond, y in bars:
                v, lo, hi = float(r[metric]), float(r[f"{metric}_ci_low"]), float(r[f"{metric}_ci_high"])
                single = isinstance(r.get("single_predicted_class"), str)
                ax.barh(y, v, 0.8, color=colour[cond], hatch=LEAK_HATCH if leak else None,
                        edgecolor=SINGLE_COLOUR if single else ("0.15" if leak else colour[cond]),
                        linewidth=1.6 if single else 0.5)
                ax.errorbar(v, y, xerr=[[max(v - lo, 0)], [max(hi - v, 0)]], fmt="none",
                            ecolor="0.2", elinewidth=0.7, capsize=1.5)
                if v < 0.01:  # a bar of value 0 has no length: a diamond at 0 keeps it visible
                    ax.plot([0], [y], marker="D", markersize=6, markerfacecolor=colour[cond],
                            markeredgecolor="0.1", markeredgewidth=0.8, ls="", clip_on=False, zorder=5)
                # the condition is named beside its value: no legend look-up for many bars
                name = f"  {cond}" if len(conditions) > 1 else ""
                ax.text(max(v, hi) + 0.015, y, f"{v:.2f}{name}" + (" single class" if single else ""),
                        va="center", ha="left", fontsize=6.5,
                        color=SINGLE_COLOUR if single else "0.15")
            chance = float(sub["chance_uf1_uar"].max())
            ax.axvline(chance, color="0.35", ls="--", lw=0.9, zorder=0)
            ax.set_yticks(ticks)
            ax.set_yticklabels([f"{f} / {m}" for f, m in groups] if col == 0 else [], fontsize=8)
            ax.set_ylim(span - 0.5, -0.5)
            ax.set_xlim(0, 1.3 + (0.012 * longest if len(conditions) > 1 else 0))
            ax.set_xticks(np.linspace(0, 1, 6))
            ax.tick_params(axis="x", labelsize=7)
            ax.set_xlabel(metric.upper(), fontsize=8)
            ax.grid(axis="x", color="0.9", lw=0.6, zorder=0)
            ax.set_axisbelow(True)
            if leak:
                ax.set_facecolor("#fff3e6")
                ax.set_title(f"{protocol}: {metric.upper()}  LEAKY CONTRAST (not subject-independent)",
                             fontsize=9, color=LEAK_COLOUR, fontweight="bold")
            else:
                ax.set_title(f"{protocol}: {metric.upper()}", fontsize=9)
    handles = [Patch(facecolor=colour[c], edgecolor=colour[c], label=c) for c in conditions]
    handles.append(Line2D([], [], color="0.35", ls="--", lw=0.9, label="chance (1 / classes present)"))
    if (metrics[["uf1", "uar"]] < 0.01).any().any():
        handles.append(Line2D([], [], color="0.5", marker="D", ls="", markersize=6, markeredgecolor="0.1",
                              markeredgewidth=0.8, label="value 0 (diamond at 0: a bar of no length)"))
    if leaky:
        handles.append(Patch(facecolor="#fff3e6", edgecolor="0.15", hatch=LEAK_HATCH,
                             label="leave-one-sample-out: leaky contrast, not a result"))
    if any_single:
        handles.append(Patch(facecolor="white", edgecolor=SINGLE_COLOUR, linewidth=1.6,
                             label="single-class predictor (always one class)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8,
               frameon=False)
    fig.suptitle("UF1 and UAR per feature set / model (bars: conditions; error bars: 95 % subject "
                 "bootstrap)", fontsize=10)
    return fig


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
    """`confusion_figure` written as a PNG (atomically)."""
    plt = _plt()
    fig = confusion_figure(summaries, max_panels)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def confusion_figure(summaries: list[dict], max_panels: int = 24):
    """Row-normalised confusion matrices (counts written in the cells) of `confusion_panels`,
    each with its colour bar and the full class names; the leaky contrast framed in orange,
    single-class predictors in red. Returns the matplotlib figure."""
    plt = _plt()
    panels = confusion_panels(summaries, max_panels)
    n = max(len(panels), 1)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    k = max((len(s["classes"]) for s in panels), default=1)
    label_in = 0.075 * max((len(c) for s in panels for c in s["classes"]), default=4)
    side = max(2.2, 0.42 * k)
    fig, axes = plt.subplots(rows, cols, squeeze=False, layout="constrained",
                             figsize=(cols * (side + label_in + 0.9), rows * (side + label_in + 0.8)))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, s in zip(axes.ravel(), panels):
        cm = np.asarray(s["confusion"], float)
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.axis("on")
        im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        bar.set_label("share of the true class (row)", fontsize=7)
        bar.ax.tick_params(labelsize=6)
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, int(v), ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
        classes = list(s["classes"])
        ax.set_xticks(range(len(classes)), classes, fontsize=7, rotation=45, ha="right",
                      rotation_mode="anchor")
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("true", fontsize=7)
        title = f"{s['condition']} / {s['feature_set']}\n{s['model']} / {s['protocol']}: UF1 {s['uf1']:.2f}"
        colour, marks = "black", []
        only = single_class(s)
        if not s["subject_independent"]:
            marks.append("LEAKY CONTRAST")
            colour = LEAK_COLOUR
        if only:
            marks.append(f"single-class: always {only}")
            colour = SINGLE_COLOUR
        if marks:
            title += "\n" + "; ".join(marks)
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(2.5)
                if not s["subject_independent"]:
                    spine.set_linestyle((0, (4, 2)))
        ax.set_title(title, fontsize=7, color=colour, fontweight="bold" if marks else "normal")
    return fig
