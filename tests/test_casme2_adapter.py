"""CASME II adapter on small hand-made fixtures with the corpus' quirks."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from mexflow.datasets.casme2 import read_casme2
from mexflow.datasets.errors import CorpusError
from mexflow.datasets.index import INDEX_COLUMNS, build_index

COLUMNS = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Unnamed: 5",
           "Action Units", "Estimated Emotion"]


def make_fixture(root, rows, frames=None, annotation="CASME2-coding-20140508.xlsx"):
    """rows: (subject int, filename, onset, apex, offset, aus, emotion); frames: clip -> frame
    numbers written on disk (default onset..offset)."""
    frames = frames or {}
    for subj, clip, on, ap, off, _, _ in rows:
        d = root / "CASME2_RAW_selected" / f"sub{subj:02d}" / clip
        d.mkdir(parents=True, exist_ok=True)
        for n in frames.get(clip, range(on if isinstance(on, int) else 1, (off if isinstance(off, int) else 5) + 1)):
            cv2.imwrite(str(d / f"img{n}.jpg"), np.full((8, 8, 3), 100, np.uint8))
    df = pd.DataFrame([[s, c, on, ap, off, None, au, e] for s, c, on, ap, off, au, e in rows],
                      columns=COLUMNS)
    df.to_excel(root / annotation, index=False)
    return root


GOOD = [(1, "EP02_01f", 46, 59, 86, "12", "happiness"),
        (1, "EP03_02", 131, 139, 161, "R12+L4", "others"),
        (2, "EP01_11f", 10, 22, 40, "4+7", "disgust"),
        (2, "EP19_06", 20, 25, 30, "14", "fear")]


def test_good_rows_become_canonical_index(tmp_path):
    make_fixture(tmp_path, GOOD)
    index, rejected = build_index("casme2", {"format": "casme2", "root": str(tmp_path), "shards": 3})
    assert list(index.columns) == INDEX_COLUMNS and rejected.empty
    assert sorted(index["subject"].unique()) == ["casme2/sub01", "casme2/sub02"]
    r = index.set_index("clip").loc["EP03_02"]
    assert r["aus"] == [12, 4] and r["au_codes"] == ["R12", "L4"]
    assert (r["onset"], r["apex"], r["offset"], r["fps"]) == (131, 139, 161, 200.0)
    assert r["frames"] == list(range(131, 162)) and r["class5"] == "others" and r["class3"] is None
    fear = index.set_index("clip").loc["EP19_06"]
    assert fear["class5"] is None and fear["class3"] == "negative"
    assert sorted(index["shard"]) == [0, 0, 1, 2]


@pytest.mark.parametrize("bad_row, frames, reason, file_part", [
    ((3, "EP05_01", 30, 20, 10, "4", "disgust"), None, "onset 30 is after offset 10", "row 6"),
    ((3, "EP05_01", 10, 20, 30, "4", "bewilderment"), None, "unknown label 'bewilderment'", "row 6"),
    ((3, "EP05_01", 10, 20, 30, "4+x", "disgust"), None, "unreadable action unit", "row 6"),
    ((3, "EP05_01", 10, 20, 30, "4", "disgust"), {"EP05_01": [10, 11, 12, 14, 15] + list(range(16, 31))},
     "frame(s) of onset..offset missing on disk, first img13.jpg", "img13.jpg"),
    ((3, "EP05_01", 10, 40, 30, "4", "disgust"), None, "apex 40 outside onset..offset", "row 6"),
])
def test_bad_rows_error_or_reject(tmp_path, bad_row, frames, reason, file_part):
    make_fixture(tmp_path, GOOD + [bad_row], frames)
    with pytest.raises(CorpusError) as exc:
        read_casme2("casme2", tmp_path, on_bad_clip="error")
    msg = str(exc.value)
    assert "corpus 'casme2'" in msg and "casme2/sub03/EP05_01" in msg and reason in msg and file_part in msg
    index, rejected = read_casme2("casme2", tmp_path, on_bad_clip="reject")
    assert len(index) == len(GOOD)
    assert rejected["clip_id"].tolist() == ["casme2/sub03/EP05_01"]
    assert reason in rejected["reason"].iloc[0] and file_part in rejected["file"].iloc[0]


def test_apex_slash_midpoint_or_bad_clip(tmp_path):
    make_fixture(tmp_path, GOOD + [(3, "EP05_01", 10, "/", 30, "4", "disgust")])
    index, _ = read_casme2("casme2", tmp_path, missing_apex="midpoint")
    r = index.set_index("clip").loc["EP05_01"]
    assert r["apex"] == 20 and r["apex_source"] == "midpoint"
    index, rejected = read_casme2("casme2", tmp_path, missing_apex="bad_clip", on_bad_clip="reject")
    assert "EP05_01" not in set(index["clip"]) and "apex is '/'" in rejected["reason"].iloc[0]


def _append_rows(root, rows):
    """Append raw rows (the sheet's own columns) below the fixture's sheet."""
    df = pd.read_excel(root / "CASME2-coding-20140508.xlsx")
    extra = pd.DataFrame(rows, columns=df.columns)
    pd.concat([df, extra]).to_excel(root / "CASME2-coding-20140508.xlsx", index=False)


def test_missing_clip_folder_and_identical_duplicate(tmp_path):
    make_fixture(tmp_path, GOOD)
    # Sheet rows 6 and 7: a clip without folder, and an exact copy of row 2 (EP02_01f).
    _append_rows(tmp_path, [[4, "EP09_09", 1, 2, 3, None, "4", "others"],
                            [1, "EP02_01f", 46, 59, 86, None, "12", "happiness"]])
    index, rejected = read_casme2("casme2", tmp_path, on_bad_clip="reject")
    reasons = dict(zip(rejected["clip_id"], rejected["reason"]))
    assert reasons == {"casme2/sub04/EP09_09": "clip folder not found"}
    assert len(index) == len(GOOD) and index["clip"].tolist().count("EP02_01f") == 1


def test_identical_duplicate_with_other_cell_types_collapses(tmp_path):
    make_fixture(tmp_path, GOOD)
    _append_rows(tmp_path, [[1, "EP03_02", "131", 139.0, " 161", None, "R12+L4 ", "others"]])
    index, rejected = read_casme2("casme2", tmp_path, on_bad_clip="error")
    assert rejected.empty and sorted(index["clip"]) == sorted(c for _, c, *_ in GOOD)


@pytest.mark.parametrize("dup, differ", [
    ([1, "EP02_01f", 46, 60, 86, None, "12", "happiness"], "apex"),
    ([1, "EP02_01f", 46, 59, 86, None, "12", "disgust"], "emotion"),
    ([1, "EP02_01f", 46, 59, 86, None, "12+4", "happiness"], "aus"),
    ([1, "EP02_01f", 40, 59, 90, None, "12", "happiness"], "onset, offset"),
])
def test_conflicting_duplicate_rejects_clip_once(tmp_path, dup, differ):
    make_fixture(tmp_path, GOOD)
    _append_rows(tmp_path, [dup])   # sheet row 6; the original EP02_01f is row 2
    index, rejected = read_casme2("casme2", tmp_path, on_bad_clip="reject")
    assert "EP02_01f" not in set(index["clip"]) and len(index) == len(GOOD) - 1
    assert rejected["clip_id"].tolist() == ["casme2/sub01/EP02_01f"]   # one rejection, not two
    reason = rejected["reason"].iloc[0]
    assert reason.startswith("conflicting duplicate annotation rows") and reason.endswith(f"differ in {differ}")
    assert "row 2" in reason and "row 6" in reason
    with pytest.raises(CorpusError) as exc:
        read_casme2("casme2", tmp_path, on_bad_clip="error")
    msg = str(exc.value)
    assert "corpus 'casme2'" in msg and "casme2/sub01/EP02_01f" in msg and "row 2" in msg and "row 6" in msg


def test_duplicate_of_a_bad_row_is_one_rejection(tmp_path):
    make_fixture(tmp_path, GOOD)
    _append_rows(tmp_path, [[3, "EP05_01", 30, 20, 10, None, "4", "disgust"]] * 2)
    index, rejected = read_casme2("casme2", tmp_path, on_bad_clip="reject")
    assert rejected["clip_id"].tolist() == ["casme2/sub03/EP05_01"] and len(index) == len(GOOD)
    assert "onset 30 is after offset 10" in rejected["reason"].iloc[0]


def test_missing_annotation_and_bad_header(tmp_path):
    (tmp_path / "CASME2_RAW_selected").mkdir()
    with pytest.raises(CorpusError, match="annotation file not found"):
        read_casme2("casme2", tmp_path)
    pd.DataFrame({"Subject": [1], "Filename": ["x"]}).to_excel(tmp_path / "CASME2-coding-x.xlsx", index=False)
    with pytest.raises(CorpusError, match=r"lacks columns \['OnsetFrame'"):
        read_casme2("casme2", tmp_path)
    with pytest.raises(CorpusError, match="not a folder"):
        read_casme2("casme2", tmp_path / "nope")


def test_synthetic_corpus_is_read_by_the_real_adapter(small_corpus):
    root, truth = small_corpus
    index, rejected = build_index("syn", {"format": "synthetic", "root": str(root)})
    assert rejected.empty and len(index) == len(truth)
    merged = index.merge(truth.assign(clip_id="syn/" + truth["subject"] + "/" + truth["clip"]), on="clip_id")
    assert (merged["onset_x"] == merged["onset_y"]).all() and (merged["apex_x"] == merged["apex_y"]).all()
    assert (merged["emotion_x"] == merged["emotion_y"]).all()
    assert all(f[0] == a for f, a in zip(merged["frames"], merged["first_frame"]))
