"""The synthetic corpus written in the SAMM and 4DME layouts (and the quirks of every layout).

The expected names, columns and vocabularies are spelled out here literally: they are the contract
the SAMM / 4DME adapters read, so the test must not borrow them from the code under test.
"""
from __future__ import annotations

import re
from dataclasses import replace

import cv2
import numpy as np
import openpyxl
import pandas as pd
import pytest

from mexflow.resources import load_resource
from mexflow.synthetic.action_units import parse_au_string
from mexflow.synthetic.corpus import LAYOUT_FILES, SyntheticConfig, truth_path, write_synthetic_corpus
from mexflow.synthetic.ground_truth import load_clip_truth

# 2 subjects x 2 clips of about 10 frames (a shorter SMALL of conftest.py).
TINY = SyntheticConfig(seed=11, subjects=2, clips_per_subject=2, rise_frames=(3, 5),
                       fall_frames=(3, 5), pad_frames=(1, 2))
# Shortest clips the planner makes (2-frame rise and fall): quirk tests need clips, not frames.
# With this seed, 4 clips per subject include two happiness clips (two compound_label quirks).
QUIRKY = replace(TINY, rise_frames=(2, 2), fall_frames=(2, 2), pad_frames=(0, 1))
QUIRKY_CLIPS = {"casme2": 3, "samm": 3, "4dme": 4}

SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
               "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
FOURDME_HEADER = ["sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs"]
SHEET = {"casme2": "CASME2-coding-synthetic.xlsx", "samm": "SAMM_Micro_FACS_Codes_synthetic.xlsx",
         "4dme": "4DME_Labelling_Micro_release_synthetic.xlsx"}
LABELS = {
    "casme2": {"happiness": "happiness", "surprise": "surprise", "disgust": "disgust",
               "repression": "repression", "others": "others"},
    "samm": {"happiness": "Happiness", "surprise": "Surprise", "disgust": "Disgust",
             "repression": "Contempt", "others": "Other"},
    "4dme": {"happiness": "Positive", "surprise": "Surprise", "disgust": "Negative",
             "repression": "Repression", "others": "Others"},
}
# sheet column of each role, per layout
COLUMN = {
    "casme2": {"onset": "OnsetFrame", "apex": "ApexFrame", "offset": "OffsetFrame",
               "aus": "Action Units", "label": "Estimated Emotion"},
    "samm": {"onset": "Onset Frame", "apex": "Apex Frame", "offset": "Offset Frame",
             "aus": "Action Units", "label": "Estimated Emotion"},
    "4dme": {"onset": "Onset", "apex": "Apex", "offset": "Offset", "aus": "AUs", "label": "Emotion"},
}
# Davison et al. (2018) objective classes: AU combinations of classes I..VI; anything else is VII.
OBJECTIVE_CLASSES = {
    1: [{6}, {12}, {6, 12}, {6, 7, 12}, {7, 12}],
    2: [{1, 2}, {5}, {1, 2, 5}],
    3: [{4}, {4, 7}, {4, 5}, {17, 24}, {23}],
    4: [{9}, {10}, {4, 9}, {4, 7, 10}, {7, 10}],
    5: [{15}, {1, 4}, {15, 17}, {6, 15}],
    6: [{1, 2, 4}, {20}],
}


def objective_class(aus) -> int:
    aus = set(aus)
    found = [c for c, combos in OBJECTIVE_CLASSES.items() if aus in combos]
    return found[0] if found else 7


def clip_dir(root, layout, subject, clip):
    return root / {"casme2": "CASME2_RAW_selected", "samm": "SAMM", "4dme": "frames"}[layout] / subject / clip


def frame_name(layout, subject, frame):
    return {"casme2": f"img{frame}.jpg", "samm": f"{subject}_{frame:05d}.jpg",
            "4dme": f"{frame:05d}.jpg"}[layout]


def read_sheet(root, layout) -> pd.DataFrame:
    header_row = 12 if layout == "samm" else 0
    return pd.read_excel(root / SHEET[layout], header=header_row, dtype=object)


@pytest.fixture(scope="module")
def make_corpus(tmp_path_factory):
    """make_corpus(cfg, layout, workers) -> (root, truth); each distinct call generates once.
    Serial by default: a worker pool costs more than it saves on corpora this small."""
    cache = {}

    def make(cfg, layout, workers=1):
        key = (repr(cfg), layout, workers)
        if key not in cache:
            root = tmp_path_factory.mktemp(f"{layout}_w{workers}") / "corpus"
            cache[key] = root, write_synthetic_corpus(root, replace(cfg, layout=layout, fps=None), workers)
        return cache[key]

    return make


def test_layout_files_name_each_layouts_sheet_and_frames():
    assert LAYOUT_FILES == {
        "casme2": {"annotation": SHEET["casme2"], "frames_subdir": "CASME2_RAW_selected"},
        "samm": {"annotation": SHEET["samm"], "frames_subdir": "SAMM"},
        "4dme": {"annotation": SHEET["4dme"], "frames_subdir": "frames"},
    }


def test_every_prototype_has_its_davison_objective_class():
    for emotion, spec in load_resource("synthetic_emotions.yaml").items():
        for proto in spec["prototypes"]:
            assert proto["objective"] == objective_class(proto["aus"]), (emotion, proto)


def test_samm_sheet_has_the_preamble_header_and_columns(make_corpus):
    root, truth = make_corpus(TINY, "samm")
    ws = openpyxl.load_workbook(root / SHEET["samm"]).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    preamble = rows[:12]
    # text only in column A, a title on row 1, blank rows among the 12
    assert all(all(v is None for v in r[1:]) for r in preamble)
    assert isinstance(preamble[0][0], str) and preamble[0][0].startswith("SAMM")
    assert sum(r[0] is None for r in preamble) >= 2 and sum(isinstance(r[0], str) for r in preamble) >= 4
    assert list(rows[12]) == SAMM_HEADER
    assert len(rows) == 13 + len(truth)

    sheet = read_sheet(root, "samm")
    assert list(sheet.columns) == SAMM_HEADER
    for (_, r), (_, t) in zip(sheet.iterrows(), truth.iterrows()):
        assert r["Subject"] == int(t["subject"]) and re.fullmatch(r"\d{3}", t["subject"])
        assert r["Filename"] == t["clip"] and re.fullmatch(rf"{t['subject']}_\d+_1", t["clip"])
        assert isinstance(r["Inducement Code"], int)
        assert (r["Onset Frame"], r["Apex Frame"], r["Offset Frame"]) == (t["onset"], t["apex"], t["offset"])
        assert r["Duration"] == t["offset"] - t["onset"] + 1
        assert r["Micro"] == "Micro - 1/2" and pd.isna(r["Notes"])
        assert r["Action Units"] == t["aus"]
        assert r["Estimated Emotion"] == LABELS["samm"][t["emotion"]] == t["raw_label"]
        assert r["Objective Classes"] == objective_class(c.au for c in parse_au_string(t["aus"]))


def test_4dme_sheet_has_the_exact_columns(make_corpus):
    root, truth = make_corpus(TINY, "4dme")
    ws = openpyxl.load_workbook(root / SHEET["4dme"]).worksheets[0]
    assert list(next(ws.iter_rows(values_only=True))) == FOURDME_HEADER
    sheet = read_sheet(root, "4dme")
    assert list(sheet.columns) == FOURDME_HEADER and len(sheet) == len(truth)
    for (_, r), (_, t) in zip(sheet.iterrows(), truth.iterrows()):
        assert r["sub_ID"] == t["subject"] and re.fullmatch(r"S\d{2}", t["subject"])
        assert r["fold_name"] == t["clip"] and re.fullmatch(rf"{t['subject']}_\d{{2}}", t["clip"])
        assert (r["Onset"], r["Apex"], r["Offset"]) == (t["onset"], t["apex"], t["offset"])
        assert r["AUs"] == t["aus"]
        assert r["Emotion"] == LABELS["4dme"][t["emotion"]] == t["raw_label"]


@pytest.mark.parametrize("layout, fps", [("samm", 200.0), ("4dme", 60.0)])
def test_frames_are_grey_jpegs_named_as_the_layout_says(make_corpus, layout, fps):
    root, truth = make_corpus(TINY, layout)
    frames_root = root / {"samm": "SAMM", "4dme": "frames"}[layout]
    assert sorted(p.name for p in frames_root.iterdir()) == sorted(truth["subject"].unique())
    assert (truth["layout"] == layout).all() and (truth["fps"] == fps).all()
    for subject, clips in truth.groupby("subject"):
        assert sorted(p.name for p in (frames_root / subject).iterdir()) == sorted(clips["clip"])
    for _, t in truth.iterrows():
        folder = clip_dir(root, layout, t["subject"], t["clip"])
        gt = load_clip_truth(truth_path(root, t["subject"], t["clip"]))
        assert truth_path(root, t["subject"], t["clip"]) == root / "ground_truth" / t["subject"] / f"{t['clip']}.npz"
        assert gt.fps == fps and gt.emotion == t["emotion"] and gt.aus == t["aus"]
        expected = {frame_name(layout, t["subject"], int(f)) for f in gt.frames}
        assert {p.name for p in folder.iterdir()} == expected
        assert list(gt.frames) == list(range(t["first_frame"], t["last_frame"] + 1))
        img = cv2.imread(str(folder / frame_name(layout, t["subject"], t["apex"])), cv2.IMREAD_UNCHANGED)
        assert img.dtype == np.uint8 and img.shape == (480, 640)


def test_grey_frames_are_the_luminance_of_the_casme2_rendering(make_corpus):
    """Same seed, same clips: the grey frame equals the BT.601 luminance of the RGB frame of the
    CASME II layout up to JPEG error (measured: mean |diff| < 0.05, max 7 grey levels)."""
    rgb_root, rgb_truth = make_corpus(TINY, "casme2")
    samm_root, samm_truth = make_corpus(TINY, "samm")
    dme_root, dme_truth = make_corpus(TINY, "4dme")
    cols = ["emotion", "aus", "onset", "apex", "offset", "first_frame", "last_frame", "peak_px", "objective"]
    pd.testing.assert_frame_equal(rgb_truth[cols], samm_truth[cols])
    pd.testing.assert_frame_equal(rgb_truth[cols], dme_truth[cols])
    for (_, c), (_, s), (_, d) in zip(rgb_truth.iterrows(), samm_truth.iterrows(), dme_truth.iterrows()):
        a = load_clip_truth(truth_path(rgb_root, c["subject"], c["clip"]))
        b = load_clip_truth(truth_path(samm_root, s["subject"], s["clip"]))
        np.testing.assert_array_equal(a.apex_field, b.apex_field)
        np.testing.assert_array_equal(a.jitter, b.jitter)
        for f in range(c["first_frame"], c["last_frame"] + 1):
            bgr = cv2.imread(str(clip_dir(rgb_root, "casme2", c["subject"], c["clip"]) / f"img{f}.jpg"))
            lum = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.int16)
            grey = cv2.imread(str(clip_dir(samm_root, "samm", s["subject"], s["clip"])
                                  / frame_name("samm", s["subject"], f)), cv2.IMREAD_UNCHANGED)
            diff = np.abs(grey.astype(np.int16) - lum)
            assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 3 and diff.max() <= 12
            grey_4dme = cv2.imread(str(clip_dir(dme_root, "4dme", d["subject"], d["clip"])
                                       / frame_name("4dme", d["subject"], f)), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(grey_4dme, grey)


def test_parallel_generation_is_byte_identical(make_corpus):
    """Serial and 2-worker SAMM corpora: same files, same bytes. NPZ archives are compared by
    content: numpy stamps the save time into each zip member header."""
    ser_root, _ = make_corpus(TINY, "samm", workers=1)
    par_root, _ = make_corpus(TINY, "samm", workers=2)
    par = sorted(p.relative_to(par_root) for p in par_root.rglob("*") if p.is_file())
    ser = sorted(p.relative_to(ser_root) for p in ser_root.rglob("*") if p.is_file())
    assert par == ser and len(par) > 40
    for rel in par:
        if rel.suffix == ".npz":
            with np.load(par_root / rel) as a, np.load(ser_root / rel) as b:
                assert a.files == b.files
                for key in a.files:
                    np.testing.assert_array_equal(a[key], b[key])
        else:
            assert (par_root / rel).read_bytes() == (ser_root / rel).read_bytes(), rel


QUIRKS = {
    "casme2": ["apex_slash", "missing_frame", "unknown_label", "onset_after_offset", "missing_clip_dir"],
    "samm": ["apex_minus_one", "missing_frame", "unknown_label", "onset_after_offset", "missing_clip_dir"],
    "4dme": ["missing_frame", "unknown_label", "onset_after_offset", "missing_clip_dir",
             "compound_label", "compound_label", "k_mark"],
}


@pytest.mark.parametrize("layout", ["casme2", "samm", "4dme"])
def test_each_quirk_lands_where_it_should(make_corpus, layout):
    cfg = replace(QUIRKY, layout=layout, fps=None, clips_per_subject=QUIRKY_CLIPS[layout],
                  quirks=tuple(QUIRKS[layout]))
    root, truth = make_corpus(cfg, layout, workers=1)
    sheet = read_sheet(root, layout)
    col = COLUMN[layout]
    assert sorted(truth.loc[truth["quirk"] != "", "quirk"]) == sorted(QUIRKS[layout])
    assert (truth["raw_label"] == sheet[col["label"]]).all()
    for i, t in truth.iterrows():
        row = sheet.loc[i]
        folder = clip_dir(root, layout, t["subject"], t["clip"])
        names = {frame_name(layout, t["subject"], f) for f in range(t["first_frame"], t["last_frame"] + 1)}
        assert truth_path(root, t["subject"], t["clip"]).is_file()
        quirk = t["quirk"]
        expected_cells = {"onset": t["onset"], "apex": t["apex"], "offset": t["offset"], "aus": t["aus"],
                          "label": LABELS[layout][t["emotion"]]}
        if quirk == "apex_slash":
            expected_cells["apex"] = "/"
        elif quirk == "apex_minus_one":
            expected_cells["apex"] = -1
        elif quirk == "unknown_label":
            expected_cells["label"] = "bewilderment"
        elif quirk == "onset_after_offset":
            expected_cells["onset"], expected_cells["offset"] = t["offset"], t["onset"]
        elif quirk == "compound_label":
            assert t["emotion"] == "happiness"
            expected_cells["label"] = t["raw_label"]
        elif quirk == "k_mark":
            marked = parse_au_string(row[col["aus"]])
            assert [(c.au, c.side) for c in marked] == [(c.au, c.side) for c in parse_au_string(t["aus"])]
            assert [c.mark for c in marked] == ["k"] + [""] * (len(marked) - 1)
            assert re.match(r"^[LR]?\d+\(k\)", row[col["aus"]])
            expected_cells["aus"] = row[col["aus"]]
        for role, value in expected_cells.items():
            assert row[col[role]] == value, (layout, quirk, role)
        if quirk == "missing_clip_dir":
            assert not folder.exists()
        elif quirk == "missing_frame":
            missing = frame_name(layout, t["subject"], t["apex"])
            assert {p.name for p in folder.iterdir()} == names - {missing}
        else:
            assert {p.name for p in folder.iterdir()} == names
    if layout == "4dme":
        compound = truth[truth["quirk"] == "compound_label"]
        assert sorted(compound["raw_label"]) == ["Positive+Surprise", "Surprise+Positive"]


@pytest.mark.parametrize("layout, quirk", [("casme2", "apex_minus_one"), ("casme2", "k_mark"),
                                           ("samm", "apex_slash"), ("samm", "compound_label"),
                                           ("4dme", "apex_slash"), ("4dme", "apex_minus_one")])
def test_a_quirk_the_layout_cannot_show_is_refused(layout, quirk):
    with pytest.raises(ValueError, match=rf"\['{quirk}'\] do not exist in the {layout} layout"):
        SyntheticConfig.from_dict({"layout": layout, "quirks": [quirk]})


def test_config_validates_layout_fps_and_quirks():
    assert SyntheticConfig.from_dict({}).layout == "casme2"
    assert [SyntheticConfig.from_dict({"layout": lay}).fps for lay in ("casme2", "samm", "4dme")] == [200, 200, 60]
    assert SyntheticConfig.from_dict({"layout": "4dme", "fps": 90}).fps == 90.0
    with pytest.raises(ValueError, match="unknown synthetic corpus layout 'smic'"):
        SyntheticConfig.from_dict({"layout": "smic"})
    with pytest.raises(ValueError, match="unknown synthetic quirks \\['typo'\\]"):
        SyntheticConfig.from_dict({"layout": "samm", "quirks": ["typo"]})
    with pytest.raises(ValueError, match="fps must be > 0"):
        SyntheticConfig.from_dict({"fps": 0})
    with pytest.raises(ValueError, match="unknown synthetic corpus options"):
        SyntheticConfig.from_dict({"colour": "grey"})


def test_impossible_quirk_injection_fails_before_writing(tmp_path):
    no_happy = replace(QUIRKY, layout="4dme", emotion_sampling="weighted",
                       emotion_weights={"disgust": 1.0}, quirks=("compound_label",))
    with pytest.raises(ValueError, match="compound_label needs a free happiness clip"):
        write_synthetic_corpus(tmp_path / "corpus", no_happy)
    too_many = replace(TINY, layout="samm", subjects=1, clips_per_subject=2,
                       quirks=("missing_frame", "unknown_label", "onset_after_offset"))
    with pytest.raises(ValueError, match=r"too few clips \(2\) to inject 3 quirks"):
        write_synthetic_corpus(tmp_path / "corpus", too_many)
    assert list(tmp_path.iterdir()) == []
