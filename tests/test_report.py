"""The recognition report: tables (Markdown, HTML, per-class) and figures from evaluation summaries."""
from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mexflow.report.figures import (confusion_figure, confusion_grid, confusion_panels, recognition_bars,
                                    recognition_figure)
from mexflow.report.tables import metrics_frame, per_class_frame, render_html, render_markdown

CLASSES = ["happiness", "surprise", "others"]
ROOT = Path(__file__).resolve().parents[1]


def summary(condition, feature_set, model, protocol, uf1, independent=True, au=None, cm=None):
    cm = cm or [[3, 1, 0], [0, 4, 0], [1, 0, 3]]
    return {
        "condition": condition, "feature_set": feature_set, "model": model, "protocol": protocol,
        "target": "class5", "classes": CLASSES, "accuracy": 10 / 12, "uf1": uf1, "uar": uf1 + 0.01,
        "uf1_ci": [uf1 - 0.1, uf1 + 0.05], "uar_ci": [uf1 - 0.09, uf1 + 0.06],
        "per_class": {c: {"recall": 0.75, "f1": 0.8, "support": 4} for c in CLASSES},
        "confusion": cm, "au_macro_f1": au, "per_au": {"AU12": {"f1": au, "support": 3, "predicted": 2}} if au else None,
        "subject_independent": independent, "n_clips": 12, "n_tested": 12, "n_subjects": 3,
        "n_test_subjects": 3, "n_folds": 3 if independent else 12, "n_features": 10,
        "chance_uf1_uar": 1 / 3, "majority_accuracy": 1 / 3, "excluded_no_target_label": 0,
        "excluded_missing_from_bank": 0,
    }


@pytest.fixture()
def summaries():
    return [summary("original", "flow", "linear_svm", "loso", 0.50),
            summary("evm", "flow", "linear_svm", "loso", 0.70),
            summary("magplus", "flow", "linear_svm", "loso", 0.60),
            summary("original", "flow", "cnn3d", "loso", 0.40, au=0.55),
            summary("original", "flow", "linear_svm", "loo", 0.90, independent=False)]


def test_metrics_frame_and_per_class(summaries):
    m = metrics_frame(summaries)
    assert len(m) == 5 and m["subject_independent"].tolist().count(False) == 1
    assert m.loc[m["model"] == "cnn3d", "au_macro_f1"].item() == pytest.approx(0.55)
    assert m.loc[m["model"] == "linear_svm", "au_macro_f1"].isna().all()
    pc = per_class_frame(summaries)
    assert len(pc) == 5 * 3 + 1  # 3 classes per evaluation, one AU of the deep model
    assert pc.loc[pc["kind"] == "au", "name"].tolist() == ["AU12"]


def test_contrast_rows_are_reported_apart(summaries):
    m = metrics_frame(summaries)
    index = pd.DataFrame({"subject": ["a", "b", "c"], "dataset": ["d"] * 3, "class5": CLASSES})
    md = render_markdown("d", m, summaries, index=index, rejected=pd.DataFrame({"reason": []}))
    main, contrast = md.split("## Contrast", 1)
    assert "| loo |" not in main and "| loo |" in contrast.split("## Confusion")[0]
    html = render_html("d", m)
    assert html.count("<table") == 2 and "NOT subject-independent" in html
    assert "0.700 [0.600, 0.750]" in html  # UF1 with its interval


def test_confusion_panels_pick_best_and_original(summaries):
    chosen = confusion_panels(summaries)
    keys = [(s["condition"], s["model"], s["protocol"]) for s in chosen]
    # per (feature, model, protocol): the best condition and the original, best UF1 first
    assert keys == [("original", "linear_svm", "loo"), ("evm", "linear_svm", "loso"),
                    ("original", "linear_svm", "loso"), ("original", "cnn3d", "loso")]
    assert len(confusion_panels(summaries, max_panels=2)) == 2


def test_figures_are_written(summaries, tmp_path):
    recognition_bars(metrics_frame(summaries), tmp_path / "bars.png")
    confusion_grid(summaries, tmp_path / "cm.png")
    for name in ("bars.png", "cm.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert not list(tmp_path.glob("*.tmp"))


# ------------------------------------------------------------------ metrics.html as a reader sees it

class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts, with the CSS classes of each row and the id
    of the last heading and the classes of the enclosing <div>s before it; the <pre> texts."""

    def __init__(self):
        super().__init__()
        self.tables, self.pres, self.divs, self.section = [], [], [], None
        self._row = self._cell = self._pre = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div":
            self.divs.append(a.get("class", ""))
        elif tag in ("h2", "h3") and a.get("id"):
            self.section = a["id"]
        elif tag == "table":
            self.tables.append({"rows": [], "row_classes": [], "section": self.section,
                                "divs": [d for d in self.divs if d]})
        elif tag == "tr":
            self._row = []
            self.tables[-1]["row_classes"].append(a.get("class", ""))
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "pre":
            self._pre = ""

    def handle_endtag(self, tag):
        if tag == "div" and self.divs:
            self.divs.pop()
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr":
            self.tables[-1]["rows"].append(self._row)
        elif tag == "pre":
            self.pres.append(self._pre)
            self._pre = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._pre is not None:
            self._pre += data


def parse(page: str) -> Tables:
    t = Tables()
    t.feed(page)
    return t


def table_with(parsed: Tables, header: list[str]) -> list[dict]:
    """The tables whose header row starts with `header`."""
    return [t for t in parsed.tables if t["rows"] and t["rows"][0][:len(header)] == header]


SINGLE = [[0, 4, 0], [0, 4, 0], [0, 3, 0]]  # every clip predicted "surprise"
CONFIG = {"seed": 7, "target": "class5", "conditions": ["original"],
          "datasets": {"d": {"format": "synthetic", "shards": 2}},
          "models": {"linear_svm": {"kind": "linear_svm", "C_grid": [0.01, 1.0]}}}


@pytest.fixture()
def page_inputs(summaries):
    summaries = summaries + [summary("original", "frames", "cnn3d", "loso", 0.2, cm=SINGLE)]
    index = pd.DataFrame({"dataset": "d", "subject": ["s1"] * 3 + ["s2"] * 3 + ["s3"] * 2,
                          "clip_id": [f"d/c{i}" for i in range(8)],
                          "class5": ["happiness", "surprise", "others", "happiness", "surprise",
                                     None, "others", "happiness"],
                          "apex_source": ["annotated"] * 7 + ["midpoint"]})
    return {"summaries": summaries, "index": index,
            "rejected": pd.DataFrame({"clip_id": ["d/x1", "d/x2"], "reason": ["unknown label 'zzz'"] * 2}),
            "aligned_rejected": pd.DataFrame({"clip_id": ["d/c2"], "reason": ["no face in the reference frame"]}),
            "no_landmarks": pd.DataFrame({"clip_id": ["d/c4"], "reason": ["no FaceMesh landmarks"]}),
            "config": CONFIG, "target": "class5"}


def render(page_inputs, fmt=render_html):
    inputs = dict(page_inputs)
    summaries = inputs.pop("summaries")
    return fmt("d", metrics_frame(summaries), summaries, **inputs)


def test_metrics_html_accounts_for_every_clip(page_inputs):
    parsed = parse(render(page_inputs))
    stages = {r[0]: int(r[1]) for r in table_with(parsed, ["stage", "clips", "note"])[0]["rows"][1:]}
    assert stages["annotated"] == 10 and stages["rejected at indexing"] == 2 and stages["indexed"] == 8
    assert stages["rejected at alignment"] == 1 and stages["without landmarks"] == 1
    # c2 went at alignment, c5 has no class5 label: 6 clips of 3 subjects remain
    assert stages["without a class5 label"] == 1 and stages["available for recognition"] == 6
    assert stages["apex frame not annotated"] == 1
    reasons = table_with(parsed, ["stage", "reason", "clips", "examples"])[0]["rows"][1:]
    assert ["indexing", "unknown label 'zzz'", "2", "d/x1, d/x2"] in reasons
    assert ["alignment", "no face in the reference frame", "1", "d/c2"] in reasons
    per_subject = table_with(parsed, ["subject", *CLASSES, "total"])[0]
    assert per_subject["rows"][1:] == [["s1", "1", "1", "0", "2"], ["s2", "1", "1", "0", "2"],
                                       ["s3", "1", "0", "1", "2"], ["total", "3", "2", "1", "6"]]
    assert per_subject["row_classes"][-1] == "total"
    assert parsed.tables[0]["section"] == "data"


def test_metrics_html_has_a_confusion_table_per_evaluation(page_inputs):
    parsed = parse(render(page_inputs))
    tables = table_with(parsed, ["true \\ predicted", *CLASSES, "recall", "f1", "support"])
    assert len(tables) == len(page_inputs["summaries"]) == 6
    counts = [[[int(v) for v in row[1:4]] for row in t["rows"][1:]] for t in tables]
    assert counts.count([[3, 1, 0], [0, 4, 0], [1, 0, 3]]) == 5 and counts.count(SINGLE) == 1
    assert all([row[0] for row in t["rows"][1:]] == CLASSES for t in tables)  # full class names
    # per-class recall and support beside the counts
    assert all(t["rows"][1][4:] == ["0.750", "0.800", "4"] for t in tables)


def test_single_class_predictor_is_flagged(page_inputs):
    m = metrics_frame(page_inputs["summaries"])
    flagged = m[m["single_predicted_class"].notna()]
    assert flagged[["feature_set", "model", "single_predicted_class", "n_predicted_classes"]].values.tolist() \
        == [["frames", "cnn3d", "surprise", 1]]
    assert (m.loc[m["single_predicted_class"].isna(), "n_predicted_classes"] == 3).all()
    page = render(page_inputs)
    parsed = parse(page)
    results = [t for t in parsed.tables if t["section"] == "results"][0]
    header = results["rows"][0]
    rows = dict(zip((tuple(r[1:3]) for r in results["rows"][1:]), zip(results["rows"][1:], results["row_classes"][1:])))
    row, css = rows[("frames", "cnn3d")]
    assert row[header.index("flag")] == "single-class predictor (always surprise)" and css == "single"
    assert all(r[header.index("flag")] == "" and c == "" for k, (r, c) in rows.items() if k != ("frames", "cnn3d"))
    assert "single-class predictor: always surprise" in page  # on its confusion matrix too
    md = render(page_inputs, render_markdown)
    assert "| original | frames | cnn3d | loso | single-class predictor (always surprise) |" in md


def test_contrast_is_marked_as_leaky(page_inputs):
    page = render(page_inputs)
    parsed = parse(page)
    leak = [t for t in parsed.tables if "contrast" in t["divs"]]
    assert len(leak) == 1 and [r[3] for r in leak[0]["rows"][1:]] == ["loo"]
    assert leak[0]["rows"][1][leak[0]["rows"][0].index("flag")] == "leaky contrast"
    results = [t for t in parsed.tables if t["section"] == "results"][0]
    assert "loo" not in [r[3] for r in results["rows"][1:]]
    # the contrast's confusion matrix sits in a framed box with the badge
    boxes = [t for t in parsed.tables if any("cm leak" in d for d in t["divs"])]
    assert len(boxes) == 1
    assert "original / flow / linear_svm / loo<span class='badge leak'>LEAKY CONTRAST</span>" in page


def test_the_configuration_used_is_embedded(page_inputs):
    page = render(page_inputs)
    parsed = parse(page)
    assert "<details>" in page and len(parsed.pres) == 1
    assert yaml.safe_load(parsed.pres[0]) == CONFIG
    glance = {r[0]: r[1] for t in parsed.tables if t["section"] == "config" for r in t["rows"]}
    assert glance["seed"] == "7" and glance["models"] == "linear_svm" and glance["datasets"] == "d"
    md = render(page_inputs, render_markdown)
    block = md.split("## Configuration used", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(block) == CONFIG


# ------------------------------------------------------------------ figures as a reader sees them

def _overlaps(texts, renderer) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_text() and t.get_visible()]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


def _many(summaries):
    """A wide matrix: 6 conditions x 8 banks x 2 models under LOSO, a zero-UF1 cell, the contrast."""
    out = []
    for c in ["original", "evm", "evm_me", "flowmag", "magplus", "demagplus"]:
        for f in ["flow_strain", "flow_dis", "lbptop", "lbp_images", "fft3d", "flowmap28", "frames", "apex_flow"]:
            for m in ["linear_svm", "rbf_svm"]:
                out.append(summary(c, f, m, "loso", 0.3 + 0.01 * len(out) % 0.6))
    zero = summary("original", "lbptop", "cnn3d", "holdout", 0.0)
    zero["uar"], zero["uf1_ci"], zero["uar_ci"] = 0.0, [0.0, 0.0], [0.0, 0.0]
    return out + [zero, summary("original", "lbptop", "linear_svm", "loo", 0.9, independent=False),
                  summary("original", "frames", "cnn3d", "loso", 0.2, cm=SINGLE)]


def test_recognition_figure_is_readable(summaries):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    metrics = metrics_frame(_many(summaries))
    fig = recognition_figure(metrics)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2 * 3  # (UF1, UAR) x (loso, holdout, loo)
    for ax in panels:
        assert _overlaps(ax.get_yticklabels(), renderer) == [], ax.get_title()
    loso = [ax for ax in panels if ax.get_title() == "loso: UF1"][0]
    names = [t.get_text() for t in loso.get_yticklabels()]
    assert "flowmap28 / linear_svm" in names and len(names) == 17  # full names, one per bank x model
    # the figure grows with the bars: at least 0.15 inch per bar of the LOSO panel
    assert fig.get_size_inches()[1] > 0.15 * 6 * 16
    # the zero bar: a diamond at 0 and its value written
    holdout = [ax for ax in panels if ax.get_title() == "holdout: UF1"][0]
    diamonds = [ln for ln in holdout.get_lines() if ln.get_marker() == "D"]
    assert len(diamonds) == 1 and list(diamonds[0].get_xdata()) == [0]
    assert [t.get_text() for t in holdout.texts] == ["0.00  original"]  # value and condition
    # the contrast: hatched bars, a marked title and a legend entry
    loo = [ax for ax in panels if ax.get_title().startswith("loo: UF1")][0]
    assert "LEAKY CONTRAST" in loo.get_title() and all(p.get_hatch() for p in loo.patches)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("leaky contrast" in t for t in legend) and any("single-class" in t for t in legend)
    assert legend[0] == "original"
    # the single-class predictor is written out beside its bar
    assert "0.20  original single class" in [t.get_text() for t in loso.texts]
    assert isinstance(diamonds[0], Line2D)
    plt.close(fig)


def test_confusion_figure_has_colour_bars_and_full_class_names(summaries):
    import matplotlib.pyplot as plt

    long = ["happiness", "surprise", "repression"]
    cells = [dict(s, classes=long, per_class={c: v for c, v in zip(long, s["per_class"].values())})
             for s in [*summaries, summary("original", "frames", "cnn3d", "loso", 0.2, cm=SINGLE)]]
    fig = confusion_figure(cells)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    panels = [ax for ax in fig.axes if ax.images]
    bars = [ax for ax in fig.axes if ax.get_ylabel().startswith("share of the true class")]
    assert len(panels) == len(confusion_panels(cells)) and len(bars) == len(panels)
    for ax in panels:
        assert [t.get_text() for t in ax.get_xticklabels()] == long
        assert [t.get_text() for t in ax.get_yticklabels()] == long
        assert _overlaps(ax.get_yticklabels(), renderer) == []
        xs = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
        assert all(a.x1 < b.x1 for a, b in zip(xs, xs[1:]))
    titles = [ax.get_title() for ax in panels]
    assert sum("LEAKY CONTRAST" in t for t in titles) == 1
    assert sum("single-class: always surprise" in t for t in titles) == 1
    plt.close(fig)


# ------------------------------------------------------------------ the motion table and make report

def test_motion_table_headers_carry_units():
    from mexflow.magnify.motion import motion_legend, summarise_motion, with_units

    table = pd.DataFrame({"clip_id": ["a", "b", "a", "b"], "condition": ["evm", "evm", "mag", "mag"],
                          "method": ["evm", "evm", "learned", "learned"], "alpha": [10.0, 10.0, 20.0, 20.0],
                          "mmr": [4.0, 6.0, 9.0, 11.0], "motion_error": [0.5, 0.7, 1.0, 1.2],
                          "magnification_error": [3.0, 5.0, 7.0, 9.0], "truth_gain_ratio": [0.4, 0.6, 0.5, 0.7],
                          "truth_added_share_in_masks": [0.3, 0.5, 0.6, 0.8], "truth_epe": [1.0, 2.0, 3.0, 4.0]})
    summary_ = summarise_motion(table, columns=("mmr", "motion_error", "magnification_error", "truth_gain_ratio",
                                                "truth_added_share_in_masks", "truth_epe"))
    shown = with_units(summary_)
    assert list(shown.columns) == ["condition", "method", "alpha (×)", "clips (n)", "mmr (×)", "motion_error (px)",
                                   "magnification_error (×)", "truth_gain_ratio (ratio)",
                                   "truth_added_share_in_masks (share)", "truth_epe (px)"]
    assert shown["mmr (×)"].tolist() == [5.0, 10.0]  # medians, values untouched
    legend = motion_legend(summary_).set_index("column")
    assert legend.loc["motion_error", "unit"] == "px" and "supervisor" in legend.loc["motion_error", "meaning"]
    assert set(legend.index) == set(summary_.columns)
    # meanings with |F| stay inside their Markdown cell
    import re

    from mexflow.report.tables import markdown_table
    lines = markdown_table(motion_legend(summary_)).splitlines()
    assert {len(re.findall(r"(?<!\\)\|", line)) for line in lines} == {4}


def _make_n(*args):
    # under `make test` the environment carries the outer make's MAKEFLAGS / MAKELEVEL
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    res = subprocess.run(["make", "--no-print-directory", "-n", "-o", ".venv/.mexflow-installed", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    return [" ".join(line.split()) for line in res.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("args, configfile", [
    ((), "--configfile configs/quick.yaml "),            # make run: the quick configuration
    (("CONFIG=",), ""),                                     # config.yaml alone (make run-full)
    (("CONFIG=tests/data/tiny.yaml",), "--configfile tests/data/tiny.yaml "),
])
def test_make_run_and_report_use_the_given_config(args, configfile):
    """`make run` runs CONFIG (default configs/quick.yaml; empty: config.yaml's full matrix), then
    writes results/report.html from the same config's DAG; `make report CONFIG=path` re-plans it."""
    report = f".venv/bin/snakemake {configfile}--report results/report.html"
    assert _make_n("report", *args) == [report]
    run = _make_n("run", *args, "CORES=2")
    assert run[:2] == [f".venv/bin/snakemake --cores 2 {configfile}".strip(), report]
    assert "results/report.html" in run[2]
    if not args:
        full = _make_n("run-full", "CORES=2")
        assert ".venv/bin/snakemake --cores 2" in full and report.replace(configfile, "") in full
