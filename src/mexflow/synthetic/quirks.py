"""Defects of real corpora injected into the synthetic corpus, one clip per quirk.

Every layout: missing_frame (the apex frame file is deleted), unknown_label (label
"bewilderment"), onset_after_offset (onset and offset cells swapped), missing_clip_dir (the clip's
frame folder is deleted). Layout-specific: casme2 apex_slash (apex cell "/"); samm apex_minus_one
(apex cell -1, SAMM's missing apex); 4dme compound_label (a happiness clip labelled
"Surprise+Positive"; a second compound_label labels another happiness clip "Positive+Surprise",
and so on alternately) and k_mark (the first AU of the clip gets a "(k)" mark, e.g. "6(k)+12").
The clip a quirk hit is recorded in the truth table's `quirk` column.

compound_label only ever hits happiness clips: the Emotion Engine merges that the 4DME adapter
applies are order-insensitive (surprise+positive -> positive), so a surprise clip labelled
"Positive+Surprise" would be read as positive, against the generator's truth.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from mexflow.synthetic.action_units import AUCode, parse_au_string
from mexflow.synthetic.layouts import Layout

COMMON_QUIRKS = ("missing_frame", "unknown_label", "onset_after_offset", "missing_clip_dir")
LAYOUT_QUIRKS = {
    "casme2": ("apex_slash",) + COMMON_QUIRKS,
    "samm": ("apex_minus_one",) + COMMON_QUIRKS,
    "4dme": COMMON_QUIRKS + ("compound_label", "k_mark"),
}
QUIRKS = ("apex_slash", *COMMON_QUIRKS, "apex_minus_one", "compound_label", "k_mark")
UNKNOWN_LABEL = "bewilderment"
# Spellings of the compound 4DME label of a happiness clip, used in turn; the Emotion Engine
# merge (surprise + positive -> positive) maps both back to positive.
COMPOUND_LABELS = ("Surprise+Positive", "Positive+Surprise")


def validate_quirks(layout: str, quirks) -> None:
    """ValueError for a quirk nobody knows or one the layout cannot show."""
    unknown = sorted(set(quirks) - set(QUIRKS))
    if unknown:
        raise ValueError(f"unknown synthetic quirks {unknown}; known: {QUIRKS}")
    if layout not in LAYOUT_QUIRKS:
        raise ValueError(f"unknown synthetic corpus layout {layout!r}; known: {sorted(LAYOUT_QUIRKS)}")
    foreign = sorted(set(quirks) - set(LAYOUT_QUIRKS[layout]))
    if foreign:
        raise ValueError(f"synthetic quirks {foreign} do not exist in the {layout} layout; "
                         f"{layout} supports {LAYOUT_QUIRKS[layout]}")


def assign_quirks(emotions: list[str], quirks) -> list[tuple[int, str]]:
    """Which clip (position in `emotions`, the generator emotion of every clip in corpus order)
    receives each quirk: distinct clips, earliest first; compound_label takes a happiness clip
    and is placed before the others so that they cannot take its clip.
    Returns [(clip position, quirk)] in the order of `quirks`."""
    if len(quirks) > len(emotions):
        raise ValueError(f"too few clips ({len(emotions)}) to inject {len(quirks)} quirks")
    taken: set[int] = set()
    chosen: dict[int, int] = {}   # position in quirks -> clip position
    order = sorted(range(len(quirks)), key=lambda q: quirks[q] != "compound_label")
    for q in order:
        if quirks[q] == "compound_label":
            free = [i for i, e in enumerate(emotions) if e == "happiness" and i not in taken]
            if not free:
                raise ValueError("quirk compound_label needs a free happiness clip "
                                 f"({emotions.count('happiness')} in the corpus); add clips or "
                                 "use emotion_sampling: balanced")
        else:
            free = [i for i in range(len(emotions)) if i not in taken]
        chosen[q] = free[0]
        taken.add(free[0])
    return [(chosen[q], quirks[q]) for q in range(len(quirks))]


def mark_first_au(aus: str, mark: str = "k") -> str:
    """'6+12' -> '6(k)+12', 'L12' -> 'L12(k)': the mark goes after the first AU number."""
    codes = parse_au_string(aus)
    if not codes:
        raise ValueError(f"cannot mark an empty AU string {aus!r}")
    first = AUCode(codes[0].au, codes[0].side, mark)
    return "+".join(str(c) for c in [first, *codes[1:]])


def apply_quirks(root: Path, layout: Layout, rows: list[dict], sheet: pd.DataFrame,
                 assignments: list[tuple[int, str]]) -> None:
    """Inject each (clip position, quirk) into the sheet (object columns, row i = rows[i]) and the
    frame folders under `root`; sets rows[i]['quirk'] and rows[i]['raw_label'] (the sheet label)."""
    col = layout.columns
    compounds = 0
    for i, quirk in assignments:
        r = rows[i]
        r["quirk"] = quirk
        if quirk == "apex_slash":
            sheet.at[i, col["apex"]] = "/"
        elif quirk == "apex_minus_one":
            sheet.at[i, col["apex"]] = -1
        elif quirk == "unknown_label":
            sheet.at[i, col["label"]] = UNKNOWN_LABEL
        elif quirk == "compound_label":
            sheet.at[i, col["label"]] = COMPOUND_LABELS[compounds % len(COMPOUND_LABELS)]
            compounds += 1
        elif quirk == "k_mark":
            sheet.at[i, col["aus"]] = mark_first_au(r["aus"])
        elif quirk == "onset_after_offset":
            sheet.at[i, col["onset"]], sheet.at[i, col["offset"]] = r["offset"], r["onset"]
        elif quirk == "missing_frame":
            layout.frame_path(root, r["subject"], r["clip"], r["apex"]).unlink()
        elif quirk == "missing_clip_dir":
            shutil.rmtree(layout.clip_dir(root, r["subject"], r["clip"]))
        else:
            raise ValueError(f"unknown synthetic quirk {quirk!r}; known: {QUIRKS}")
        r["raw_label"] = sheet.at[i, col["label"]]
