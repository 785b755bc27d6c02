"""Label vocabularies from resources/labels.yaml (the one source of truth)."""
from __future__ import annotations

import math
import re

from mexflow.resources import load_resource

_MISSING = object()
_BLANK = ("", "nan", "none", "/", "-")


def label_sets() -> dict[str, list[str]]:
    """Target name -> ordered class names: {'class5': [...], 'class3': [...], 'objective': [...]}."""
    res = load_resource("labels.yaml")
    return {"class5": list(res["class5_labels"]), "class3": list(res["class3_labels"]),
            "objective": list(res["objective_labels"])}


def resolve_compound(corpus_format: str, raw) -> str:
    """Raw label -> the single lower-case label it stands for under the corpus' compound merges.

    'Surprise+Positive' and 'positive + surprise' both give 'positive' for 4dme (rules in
    labels.yaml `compound_merges`). A corpus without merge rules gets its label lower-cased and
    stripped, '+' included. Raises KeyError for a compound that no rule resolves.
    """
    text = str(raw).strip().lower()
    rules = load_resource("labels.yaml").get("compound_merges", {}).get(corpus_format)
    if not rules:
        return text
    rename = rules.get("rename") or {}
    parts = sorted({rename.get(p, p) for p in (s.strip() for s in text.split("+")) if p})
    if len(parts) <= 1:
        return parts[0] if parts else ""
    for label in rules.get("dominant") or ():
        if label in parts:
            return label
    pairs = {"+".join(sorted(k.split("+"))): v for k, v in (rules.get("pairs") or {}).items()}
    key = "+".join(parts)
    if key not in pairs:
        raise KeyError(f"no {corpus_format} merge rule for compound label {raw!r} (parts {parts})")
    return pairs[key]


def map_label(corpus_format: str, raw) -> tuple[str | None, str | None]:
    """Raw annotated label -> (class5, class3); None where the label is not in that set.

    Compound labels are merged first (resolve_compound). Raises KeyError for an empty label or
    one the corpus' vocabulary does not contain.
    """
    maps = load_resource("labels.yaml").get(corpus_format)
    if maps is None:
        raise KeyError(f"labels.yaml has no vocabulary for corpus format {corpus_format!r}")
    key = resolve_compound(corpus_format, raw)
    if key in _BLANK:
        raise KeyError(f"empty {corpus_format} label {raw!r}")
    c5 = maps["class5"].get(key, _MISSING)
    c3 = maps["class3"].get(key, _MISSING)
    if c5 is _MISSING or c3 is _MISSING:
        raise KeyError(f"unknown {corpus_format} label {raw!r}; known: {sorted(maps['class5'])}")
    return c5, c3


def objective_class(cell) -> str | None:
    """SAMM 'Objective Classes' cell (1..7 as int/float/text, or a Roman numeral) -> 'I'..'VII'.

    A blank cell gives None; anything else raises ValueError.
    """
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return None
    labels = load_resource("labels.yaml")["objective_labels"]
    text = str(cell).strip()
    if text.lower() in _BLANK:
        return None
    if re.fullmatch(r"\d+(\.0+)?", text):
        number = int(float(text))
        if 1 <= number <= len(labels):
            return labels[number - 1]
    elif text.upper() in labels:
        return text.upper()
    raise ValueError(f"objective class {cell!r} is not one of 1..{len(labels)} or {labels}")
