"""SAMM, CAS(ME)^3 part A, 4DME and SMIC-HS adapters on small hand-made fixtures with each
corpus' quirks, plus the shared validation (frame cells, frame naming, labels) and build_index."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from mexflow.datasets.casme3 import read_casme3
from mexflow.datasets.common import frame_cell
from mexflow.datasets.errors import BadClip, CorpusError
from mexflow.datasets.fourdme import read_4dme
from mexflow.datasets.frame_files import discover_frame_naming
from mexflow.datasets.index import ADAPTERS, INDEX_COLUMNS, build_index, clip_folder
from mexflow.datasets.labels import label_sets, map_label, objective_class, resolve_compound
from mexflow.datasets.samm import read_samm
from mexflow.datasets.smic import read_smic

# ---------------------------------------------------------------- fixture builders


def write_frames(folder: Path, names, colour: bool = False) -> None:
    """Tiny 32x24 images (grey, or BGR when colour) named `names` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    img = np.full((24, 32, 3) if colour else (24, 32), 90, np.uint8)
    for name in names:
        assert cv2.imwrite(str(folder / name), img)


def write_sheet(path: Path, header, rows, preamble=()) -> None:
    """xlsx with `preamble` text rows (None = empty row) above the header row."""
    book = openpyxl.Workbook()
    sheet = book.active
    for line in preamble:
        sheet.append([line] if line is not None else [])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    book.save(path)


SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
               "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
SAMM_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
SAMM_PREAMBLE = ["SAMM FACS codes", None, "Terms of use ...", "Coded by three coders", None,
                 "Frame numbers are file numbers", None, None, "Objective classes 1..7",
                 None, "See the paper", None]
# (subject cell, filename, onset, apex, offset, AUs, emotion, objective cell)
SAMM_GOOD = [(6, "006_1_2", 5562, 5588, 5615, "R12+L14", "Happiness", 1),
             ("7", "007_3_1", 2000, 2010, 2030, "4+7", "Anger", "3"),
             ("011", "011_2_3", 100, -1, 130, "1+2", "Other", "VII")]


def make_samm(root: Path, rows=SAMM_GOOD, frames=None, preamble=SAMM_PREAMBLE, header=SAMM_HEADER):
    """SAMM layout: preamble + sheet; grey '{SSS}_{n:05d}.jpg' frames onset..offset (or frames[clip])."""
    frames = frames or {}
    for subj, clip, on, _, off, *_ in rows:
        sss = f"{int(subj):03d}"
        numbers = frames.get(clip, range(on, off + 1))
        write_frames(root / "SAMM" / sss / clip, [f"{sss}_{n:05d}.jpg" for n in numbers])
    write_sheet(root / SAMM_SHEET, header,
                [(s, c, "2_1", on, ap, off, off - on + 1, "Micro - 1/2", au, e, obj, "")
                 for s, c, on, ap, off, au, e, obj in rows], preamble)
    return root


CASME3_SHEET = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
# Header spelt as loosely as the release: case and spaces differ from the adapter's names.
CASME3_HEADER = ["subject", " Filename", "Onset", "APEX", "Offset ", "AU", "Objective class", "Emotion"]
# (subject, recording, onset, apex, offset, AU, emotion)
CASME3_GOOD = [("spNO.1", "a", 10, 14, 20, "L12+R12", "happy"),
               ("spNO.1", "a", 40, 44, 50, "4", "sad"),       # same recording, another ME
               ("spNO.2", "d", 5, 5, 15, "1+2", "surprise")]  # onset = apex


def make_casme3(root: Path, rows=CASME3_GOOD, drop=None):
    """CAS(ME)^3 layout: '{n}.jpg' colour frames of each recording covering its rows' spans,
    minus drop[recording] frame numbers."""
    drop = drop or {}
    spans = {}
    for subj, rec, on, _, off, *_ in rows:
        spans.setdefault((subj, rec), set()).update(range(on - 2, off + 3))
    for (subj, rec), numbers in spans.items():
        keep = sorted(numbers - set(drop.get(rec, ())))
        write_frames(root / "frame" / subj / rec / "color", [f"{n}.jpg" for n in keep], colour=True)
    write_sheet(root / CASME3_SHEET, CASME3_HEADER,
                [(s, r, on, ap, off, au, "1", e) for s, r, on, ap, off, au, e in rows])
    return root


FOURDME_SHEET = "4DME_Labelling_Micro_release v1.xlsx"
FOURDME_HEADER = ["sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs", "Comment"]
# (sub_ID, fold_name, emotion, onset, apex, offset, AUs)
FOURDME_GOOD = [("S01", "S01_01", "Surprise+Positive", 3, 6, 12, "L12(k)+R14"),
                ("S01", "S01_02", "positive + surprise", 20, 25, 30, "12"),
                ("S02", "S02_01", "Negative+Repression", 7, 9, 15, "R14(k)"),
                ("S02", "S02_02", "Surprise+Negative", 1, 4, 9, "1+2+5"),
                ("S03", "S03_01", "Fear", 2, 3, 8, "4+L20"),
                ("S03", "S03_02", "Others", 2, 5, 8, "")]


def make_4dme(root: Path, rows=FOURDME_GOOD, naming=None, frames=None):
    """4DME layout: grey frames named naming[fold] (default '{:05d}.jpg') over onset-1..offset+1."""
    naming, frames = naming or {}, frames or {}
    for subj, fold, _, on, _, off, _ in rows:
        numbers = frames.get(fold, range(max(on - 1, 0), off + 2))
        write_frames(root / "frames" / subj / fold, [naming.get(fold, "{:05d}.jpg").format(n) for n in numbers])
    write_sheet(root / FOURDME_SHEET, FOURDME_HEADER,
                [(s, f, e, on, ap, off, au, "x") for s, f, e, on, ap, off, au in rows])
    return root


# (subject folder, emotion folder, clip folder, first frame, last frame)
SMIC_GOOD = [("s1", "negative", "s1_ne_01", 64471, 64490),
             ("s1", "surprise", "s1_sur_01", 1200, 1215),
             ("s3", "positive", "s3_po_05", 99990, 100010)]


def make_smic(root: Path, clips=SMIC_GOOD):
    """SMIC-HS layout: 'image{n:06d}.bmp' grey frames first..last in HS/s/micro/emotion/clip."""
    for subj, emotion, clip, first, last in clips:
        write_frames(root / "HS" / subj / "micro" / emotion / clip,
                     [f"image{n:06d}.bmp" for n in range(first, last + 1)])
    return root


def files_reproduced(row, root) -> bool:
    """frame_pattern.format(n) over `frames` gives exactly the image files of frame_dir (relative
    to the corpus root in build_index's index, absolute as the adapters return it)."""
    on_disk = {e.name for e in os.scandir(clip_folder(root, row["frame_dir"])) if e.is_file()}
    return on_disk == {row["frame_pattern"].format(n) for n in row["frames"]}


# ---------------------------------------------------------------- SAMM


def test_samm_preamble_grey_frames_objective_and_minus_one_apex(tmp_path):
    make_samm(tmp_path)
    index, rejected = build_index("samm", {"format": "samm", "root": str(tmp_path), "shards": 2})
    assert list(index.columns) == INDEX_COLUMNS and rejected.empty
    assert index["clip_id"].tolist() == ["samm/006/006_1_2", "samm/007/007_3_1", "samm/011/011_2_3"]
    assert index["subject"].tolist() == ["samm/006", "samm/007", "samm/011"]
    r = index.set_index("clip").loc["006_1_2"]
    assert r["frame_pattern"] == "006_{:05d}.jpg" and r["frames"] == list(range(5562, 5616))
    assert cv2.imread(str(clip_folder(tmp_path, r["frame_dir"]) / "006_05588.jpg"), cv2.IMREAD_UNCHANGED).ndim == 2
    assert (r["onset"], r["apex"], r["offset"], r["apex_source"], r["fps"]) == (5562, 5588, 5615, "annotated", 200.0)
    assert (r["class5"], r["class3"], r["objective"]) == ("happiness", "positive", "I")
    assert r["aus"] == [12, 14] and r["au_codes"] == ["R12", "L14"] and r["dropped_frames"] == 0
    anger = index.set_index("clip").loc["007_3_1"]
    assert (anger["class5"], anger["class3"], anger["objective"]) == (None, "negative", "III")
    other = index.set_index("clip").loc["011_2_3"]
    assert (other["apex"], other["apex_source"]) == (115, "midpoint")           # -1 apex
    assert (other["class5"], other["class3"], other["objective"]) == ("others", None, "VII")
    assert all(files_reproduced(row, tmp_path) for _, row in index.iterrows())


def test_samm_minus_one_apex_as_bad_clip_names_the_sheet_row(tmp_path):
    make_samm(tmp_path)
    with pytest.raises(CorpusError) as exc:
        read_samm("samm", tmp_path, missing_apex="bad_clip")
    # 12 preamble rows, header on row 13, third data row is row 16.
    assert "samm/011/011_2_3" in str(exc.value) and f"{SAMM_SHEET} row 16" in str(exc.value)
    assert "apex is -1" in str(exc.value)


def test_samm_header_found_by_content_not_position(tmp_path):
    make_samm(tmp_path, preamble=["note"] * 3)
    index, _ = read_samm("samm", tmp_path)
    assert len(index) == 3
    make_samm(tmp_path, preamble=["note"] * 40)   # header on row 41: beyond the scanned rows
    with pytest.raises(CorpusError, match="header row not found"):
        read_samm("samm", tmp_path)
    make_samm(tmp_path, header=[h.replace("Onset Frame", "Onset") for h in SAMM_HEADER])
    with pytest.raises(CorpusError, match="header row not found"):
        read_samm("samm", tmp_path)


def test_samm_bad_objective_and_unknown_label_are_rejected(tmp_path):
    rows = SAMM_GOOD + [(8, "008_1_1", 10, 12, 20, "4", "Sadness", 9),
                        (9, "009_1_1", 10, 12, 20, "4", "Bewildered", 2)]
    make_samm(tmp_path, rows)
    index, rejected = read_samm("samm", tmp_path, on_bad_clip="reject")
    reasons = dict(zip(rejected["clip_id"], rejected["reason"]))
    assert "objective class 9" in reasons["samm/008/008_1_1"]
    assert "unknown label 'Bewildered'" in reasons["samm/009/009_1_1"]
    assert len(index) + len(rejected) == len(rows)


# ---------------------------------------------------------------- CAS(ME)^3 part A


def test_casme3_shared_recordings_loose_header_and_onset_equals_apex_kept(tmp_path):
    make_casme3(tmp_path)
    index, rejected = build_index("c3", {"format": "casme3", "root": str(tmp_path)})
    assert list(index.columns) == INDEX_COLUMNS and rejected.empty
    assert index["clip_id"].tolist() == ["c3/spNO.1/a_10", "c3/spNO.1/a_40", "c3/spNO.2/d_5"]
    a10, a40, d5 = (index.set_index("clip").loc[c] for c in ("a_10", "a_40", "d_5"))
    assert a10["frame_dir"] == a40["frame_dir"] and a10["frame_dir"].endswith(os.path.join("spNO.1", "a", "color"))
    assert a10["frame_pattern"] == "{}.jpg" and a10["frames"] == list(range(8, 23)) + list(range(38, 53))
    assert (a10["class5"], a10["class3"], a10["fps"]) == ("happiness", "positive", 30.0)
    assert a10["aus"] == [12, 12] and a10["au_codes"] == ["L12", "R12"]
    assert (a40["class5"], a40["class3"], a40["objective"]) == (None, "negative", None)
    assert (d5["onset"], d5["apex"], d5["apex_source"]) == (5, 5, "onset_equals_apex")
    assert all(files_reproduced(row, tmp_path) for _, row in index.iterrows())


def test_casme3_onset_equals_apex_policies(tmp_path):
    make_casme3(tmp_path)
    index, _ = read_casme3("c3", tmp_path, onset_apex_equal="midpoint")
    d5 = index.set_index("clip").loc["d_5"]
    assert (d5["apex"], d5["apex_source"]) == (10, "midpoint")
    index, rejected = read_casme3("c3", tmp_path, onset_apex_equal="bad_clip", on_bad_clip="reject")
    assert rejected["clip_id"].tolist() == ["c3/spNO.2/d_5"] and "apex equals onset" in rejected["reason"][0]
    assert len(index) == 2
    with pytest.raises(ValueError, match="onset_apex_equal"):
        read_casme3("c3", tmp_path, onset_apex_equal="drop")


def test_casme3_dropped_frames_within_and_beyond_tolerance(tmp_path):
    make_casme3(tmp_path, drop={"a": [12, 16]})
    index, _ = read_casme3("c3", tmp_path)
    a10 = index.set_index("clip").loc["a_10"]
    assert a10["dropped_frames"] == 2 and 12 not in a10["frames"] and files_reproduced(a10, tmp_path)
    assert index.set_index("clip").loc["a_40", "dropped_frames"] == 0
    with pytest.raises(CorpusError) as exc:   # the same gaps, none tolerated
        build_index("c3", {"format": "casme3", "root": str(tmp_path), "max_dropped_frames": 0})
    assert "c3/spNO.1/a_10" in str(exc.value) and "first 12.jpg" in str(exc.value)


def test_casme3_too_many_dropped_or_key_frame_missing_is_rejected(tmp_path):
    make_casme3(tmp_path, drop={"a": [11, 12, 13], "d": [15]})
    index, rejected = read_casme3("c3", tmp_path, on_bad_clip="reject")
    reasons = dict(zip(rejected["clip_id"], rejected["reason"]))
    files = dict(zip(rejected["clip_id"], rejected["file"]))
    assert "3 frame(s) of onset..offset missing on disk, first 11.jpg (at most 2 tolerated)" == reasons["c3/spNO.1/a_10"]
    assert files["c3/spNO.1/a_10"].endswith(os.path.join("a", "color", "11.jpg"))
    assert reasons["c3/spNO.2/d_5"].startswith("offset frame 15.jpg missing on disk")
    assert index["clip"].tolist() == ["a_40"]


def test_casme3_identical_duplicate_row_collapses(tmp_path):
    rows = CASME3_GOOD + [CASME3_GOOD[1]]
    make_casme3(tmp_path, rows)
    index, rejected = read_casme3("c3", tmp_path, on_bad_clip="reject")
    assert rejected.empty
    assert sorted(index["clip"]) == ["a_10", "a_40", "d_5"]


@pytest.mark.parametrize("on_bad_clip", ["reject", "error"])
def test_casme3_conflicting_duplicate_rejects_the_clip(tmp_path, on_bad_clip):
    # Same recording and onset (so the same clip a_40), another apex and emotion: sheet row 5.
    rows = CASME3_GOOD + [("spNO.1", "a", 40, 46, 50, "4", "anger")]
    make_casme3(tmp_path, rows)
    if on_bad_clip == "error":
        with pytest.raises(CorpusError) as exc:
            read_casme3("c3", tmp_path, on_bad_clip="error")
        assert "c3/spNO.1/a_40" in str(exc.value) and "row 3" in str(exc.value) and "row 5" in str(exc.value)
        return
    index, rejected = read_casme3("c3", tmp_path, on_bad_clip="reject")
    assert rejected["clip_id"].tolist() == ["c3/spNO.1/a_40"]
    reason = rejected["reason"][0]
    assert "conflicting duplicate" in reason and "apex" in reason and "emotion" in reason
    assert f"{CASME3_SHEET} row 3" in reason and f"{CASME3_SHEET} row 5" in reason
    assert rejected["file"][0] == f"{CASME3_SHEET} row 3"
    assert sorted(index["clip"]) == ["a_10", "d_5"]


# ---------------------------------------------------------------- 4DME


def test_4dme_compound_labels_marks_and_discovered_naming(tmp_path):
    make_4dme(tmp_path, naming={"S02_02": "img_{:03d}.png", "S03_02": "frame{}.jpg"})
    index, rejected = build_index("d4", {"format": "4dme", "root": str(tmp_path)})
    assert list(index.columns) == INDEX_COLUMNS and rejected.empty
    by = index.set_index("clip")
    expected = {"S01_01": ("Surprise+Positive", "happiness", "positive"),
                "S01_02": ("positive + surprise", "happiness", "positive"),
                "S02_01": ("Negative+Repression", "repression", "negative"),
                "S02_02": ("Surprise+Negative", "surprise", "surprise"),
                "S03_01": ("Fear", "others", None),
                "S03_02": ("Others", "others", None)}
    for clip, (raw, c5, c3) in expected.items():
        assert (by.loc[clip, "emotion"], by.loc[clip, "class5"], by.loc[clip, "class3"]) == (raw, c5, c3)
    assert by.loc["S01_01", "aus"] == [12, 14] and by.loc["S01_01", "au_codes"] == ["L12(k)", "R14"]
    assert by.loc["S02_01", "au_codes"] == ["R14(k)"] and by.loc["S03_02", "aus"] == []
    assert [by.loc[c, "frame_pattern"] for c in ("S01_01", "S02_02", "S03_02")] == \
        ["{:05d}.jpg", "img_{:03d}.png", "frame{}.jpg"]
    assert by.loc["S01_01", "clip_id"] == "d4/S01/S01_01" and (by["fps"] == 60.0).all()
    assert all(files_reproduced(row, tmp_path) for _, row in index.iterrows())


def test_4dme_unresolved_compound_and_mixed_names_are_rejected(tmp_path):
    rows = FOURDME_GOOD + [("S04", "S04_01", "Fear+Positive", 2, 4, 6, "12")]
    make_4dme(tmp_path, rows)
    write_frames(tmp_path / "frames" / "S01" / "S01_02", ["img_00021.jpg"])
    index, rejected = read_4dme("d4", tmp_path, on_bad_clip="reject")
    reasons = dict(zip(rejected["clip_id"], rejected["reason"]))
    assert reasons["d4/S04/S04_01"].startswith("unknown label 'Fear+Positive'")
    assert reasons["d4/S01/S01_02"].startswith("mixed frame file names")
    assert len(index) + len(rejected) == len(rows)


def test_compound_merges_are_order_insensitive_and_fear_is_others_first():
    assert resolve_compound("4dme", " Positive +Surprise") == "positive"
    assert resolve_compound("4dme", "negative+surprise") == "surprise"
    assert resolve_compound("4dme", "Repression+Positive") == "repression"
    assert resolve_compound("4dme", "fear+repression") == "repression"
    assert resolve_compound("4dme", "FEAR") == "others"
    assert resolve_compound("4dme", "Others+Fear") == "others"
    with pytest.raises(KeyError, match="no 4dme merge rule"):
        resolve_compound("4dme", "positive+negative")
    with pytest.raises(KeyError, match="unknown casme2 label"):
        map_label("casme2", "happiness+surprise")   # no merges for CASME II


# ---------------------------------------------------------------- SMIC-HS


def test_smic_folder_labels_and_midpoint_apex(tmp_path):
    make_smic(tmp_path)
    (tmp_path / "HS" / "s1" / "non_micro" / "x").mkdir(parents=True)   # not a micro clip
    (tmp_path / "HS" / "s2").mkdir()                                     # no micro/ folder
    index, rejected = build_index("smic", {"format": "smic", "root": str(tmp_path)})
    assert list(index.columns) == INDEX_COLUMNS and rejected.empty
    assert index["clip_id"].tolist() == ["smic/s1/s1_ne_01", "smic/s1/s1_sur_01", "smic/s3/s3_po_05"]
    by = index.set_index("clip")
    ne = by.loc["s1_ne_01"]
    assert (ne["onset"], ne["apex"], ne["offset"], ne["apex_source"]) == (64471, 64480, 64490, "midpoint")
    assert ne["frame_pattern"] == "image{:06d}.bmp" and ne["fps"] == 100.0 and ne["aus"] == []
    assert (ne["emotion"], ne["class5"], ne["class3"]) == ("negative", None, "negative")
    assert (by.loc["s1_sur_01", "class5"], by.loc["s1_sur_01", "class3"]) == ("surprise", "surprise")
    po = by.loc["s3_po_05"]   # image099990 .. image100010: one width, a leading zero -> padded
    assert po["frame_pattern"] == "image{:06d}.bmp" and po["apex"] == 100000 and po["class3"] == "positive"
    assert all(files_reproduced(row, tmp_path) for _, row in index.iterrows())


def test_smic_unknown_emotion_folder_empty_clip_and_missing_hs(tmp_path):
    clips = SMIC_GOOD + [("s2", "happy", "s2_ha_01", 10, 20)]
    make_smic(tmp_path, clips)
    (tmp_path / "HS" / "s2" / "micro" / "negative" / "s2_ne_02").mkdir(parents=True)
    with pytest.raises(CorpusError, match=r"smic/s2/s2_ha_01.*unknown label 'happy'"):
        read_smic("smic", tmp_path)
    index, rejected = read_smic("smic", tmp_path, on_bad_clip="reject")
    reasons = dict(zip(rejected["clip_id"], rejected["reason"]))
    assert reasons["smic/s2/s2_ne_02"].startswith("no frame image files")
    assert len(index) + len(rejected) == len(clips) + 1
    with pytest.raises(CorpusError, match="SMIC-HS frames folder not found"):
        read_smic("smic", tmp_path / "HS")


# ---------------------------------------------------------------- every corpus: bad input


CORPORA = {   # format -> (builder, annotation rows or clip folders, frame folder of its first clip)
    "samm": (make_samm, len(SAMM_GOOD), Path("SAMM/006/006_1_2"), "006_{:05d}.jpg", "samm/006/006_1_2"),
    "casme3": (make_casme3, len(CASME3_GOOD), Path("frame/spNO.1/a/color"), "{}.jpg", "casme3/spNO.1/a_10"),
    "4dme": (make_4dme, len(FOURDME_GOOD), Path("frames/S01/S01_01"), "{:05d}.jpg", "4dme/S01/S01_01"),
    "smic": (make_smic, len(SMIC_GOOD), Path("HS/s1/micro/negative/s1_ne_01"), "image{:06d}.bmp",
             "smic/s1/s1_ne_01"),
}


@pytest.mark.parametrize("fmt", sorted(CORPORA))
def test_missing_frames_name_corpus_clip_and_file(tmp_path, fmt):
    build, n_clips, folder, pattern, clip_id = CORPORA[fmt]
    build(tmp_path)
    # Remove the apex frame (for SMIC, whose apex is a midpoint, an inner frame before it).
    victim = {"samm": 5588, "casme3": 14, "4dme": 6, "smic": 64475}[fmt]
    (tmp_path / folder / pattern.format(victim)).unlink()   # FileNotFoundError if the fixture lacks it
    spec = {"format": fmt, "root": str(tmp_path)}
    with pytest.raises(CorpusError) as exc:
        build_index(fmt, spec)
    msg = str(exc.value)
    assert f"corpus {fmt!r}" in msg and clip_id in msg and pattern.format(victim) in msg
    index, rejected = build_index(fmt, {**spec, "on_bad_clip": "reject"})
    assert rejected["clip_id"].tolist() == [clip_id] and "missing on disk" in rejected["reason"][0]
    assert rejected["file"][0].endswith(pattern.format(victim))
    assert list(index.columns) == INDEX_COLUMNS and len(index) + len(rejected) == n_clips


@pytest.mark.parametrize("fmt, sheet", [("samm", SAMM_SHEET), ("casme3", CASME3_SHEET),
                                        ("4dme", FOURDME_SHEET)])
def test_missing_annotation_and_header_without_columns(tmp_path, fmt, sheet):
    CORPORA[fmt][0](tmp_path)
    (tmp_path / sheet).unlink()
    with pytest.raises(CorpusError, match="annotation file not found"):
        build_index(fmt, {"format": fmt, "root": str(tmp_path)})
    write_sheet(tmp_path / sheet, ["Notes"], [["a"], ["b"]])
    with pytest.raises(CorpusError, match="header row not found"):
        build_index(fmt, {"format": fmt, "root": str(tmp_path)})


def test_casme3_header_lacking_a_column_is_named(tmp_path):
    write_sheet(tmp_path / CASME3_SHEET, ["Subject", "Filename", "Onset", "Offset", "AU", "emotion"], [])
    with pytest.raises(CorpusError, match=r"lacks columns \['Apex'\]"):
        read_casme3("c3", tmp_path)


def test_unknown_format_and_unknown_option(tmp_path):
    with pytest.raises(ValueError, match=r"dataset 'x': unknown corpus format 'mmew'.*'4dme', 'casme2'"):
        build_index("x", {"format": "mmew", "root": str(tmp_path)})
    with pytest.raises(ValueError, match=r"'max_dropped_frames'\] not understood by the samm adapter"):
        build_index("x", {"format": "samm", "root": str(tmp_path), "max_dropped_frames": 3})
    assert sorted(ADAPTERS) == ["4dme", "casme2", "casme3", "samm", "smic"]


def test_synthetic_dataset_uses_the_generators_layout_files(tmp_path, monkeypatch):
    from mexflow.synthetic import corpus as corpus_module

    make_samm(tmp_path)
    (tmp_path / SAMM_SHEET).rename(tmp_path / "made_up.xlsx")
    (tmp_path / "SAMM").rename(tmp_path / "grey")
    monkeypatch.setattr(corpus_module, "LAYOUT_FILES",
                        {"samm": {"annotation": "made_up.xlsx", "frames_subdir": "grey"}}, raising=False)
    spec = {"format": "synthetic", "root": str(tmp_path), "synthetic": {"layout": "samm", "fps": 50},
            "target": "objective"}   # a key of the evaluation, not an adapter option
    index, rejected = build_index("syn", spec)
    assert len(index) == 3 and rejected.empty and (index["fps"] == 50.0).all()
    with pytest.raises(ValueError, match="synthetic layout '4dme' is not written by the generator"):
        build_index("syn", {**spec, "synthetic": {"layout": "4dme"}})


# ---------------------------------------------------------------- shared helpers


@pytest.mark.parametrize("cell, expected", [(12, 12), (12.0, 12), (" 40 ", 40), ("7.0", 7), (None, None),
                                            ("", None), ("/", None), ("-", None), (-1, None), ("-1", None),
                                            (float("nan"), None), (0, 0)])
def test_frame_cell_reads_numbers_and_missing_codes(cell, expected):
    assert frame_cell(cell) == expected


@pytest.mark.parametrize("cell, message", [(2.5, "not an integer"), ("abc", "not an integer"),
                                           (-3, "negative"), (True, "not an integer")])
def test_frame_cell_rejects_non_frames(cell, message):
    with pytest.raises(ValueError, match=message):
        frame_cell(cell)


@pytest.mark.parametrize("names, pattern, frames", [
    (["img1.jpg", "img2.jpg", "img10.jpg", "notes.txt"], "img{}.jpg", [1, 2, 10]),
    (["006_00009.jpg", "006_00010.jpg"], "006_{:05d}.jpg", [9, 10]),
    (["10.JPG", "11.JPG"], "{}.JPG", [10, 11]),
    (["a{b}_01.png", "a{b}_02.png"], "a{{b}}_{:02d}.png", [1, 2]),
])
def test_frame_naming_discovery(tmp_path, names, pattern, frames):
    write_frames(tmp_path, [n for n in names if not n.endswith(".txt")])
    (tmp_path / "sub").mkdir()
    naming = discover_frame_naming(tmp_path)
    assert naming.pattern == pattern and list(naming.frames) == frames
    assert {naming.file_name(n) for n in frames} == {n for n in names if not n.endswith(".txt")}


@pytest.mark.parametrize("names, message", [(["img1.jpg", "im2.jpg"], "mixed frame file names"),
                                            (["img1.jpg", "img1.png"], "mixed frame file names"),
                                            (["01.jpg", "100.jpg"], "do not follow one pattern"),
                                            ([], "no frame image files")])
def test_frame_naming_discovery_refuses_ambiguous_folders(tmp_path, names, message):
    write_frames(tmp_path, names)
    with pytest.raises(BadClip, match=message):
        discover_frame_naming(tmp_path)


def test_label_sets_and_objective_classes():
    sets = label_sets()
    assert sets["objective"] == ["I", "II", "III", "IV", "V", "VI", "VII"]
    assert sets["class3"] == ["negative", "positive", "surprise"]
    assert [objective_class(c) for c in (1, 7.0, "4", " vi ", None, "")] == ["I", "VII", "IV", "VI", None, None]
    for bad in (0, 8, "VIII", "x"):
        with pytest.raises(ValueError, match="objective class"):
            objective_class(bad)
    # every class a corpus maps to belongs to the target's label set
    from mexflow.resources import load_resource

    labels = load_resource("labels.yaml")
    for fmt in ADAPTERS:
        for target in ("class5", "class3"):
            assert set(labels[fmt][target].values()) - {None} <= set(sets[target]), (fmt, target)
            assert set(labels[fmt]["class5"]) == set(labels[fmt]["class3"]), fmt
