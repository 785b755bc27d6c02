"""The recognition report: tables (Markdown, HTML, per-class) and figures from evaluation summaries."""
from __future__ import annotations

import pandas as pd
import pytest

from mexflow.report.figures import confusion_grid, confusion_panels, recognition_bars
from mexflow.report.tables import metrics_frame, per_class_frame, render_html, render_markdown

CLASSES = ["happiness", "surprise", "others"]


def summary(condition, feature_set, model, protocol, uf1, independent=True, au=None):
    cm = [[3, 1, 0], [0, 4, 0], [1, 0, 3]]
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
