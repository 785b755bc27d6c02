"""Label vocabularies from resources/labels.yaml (the one source of truth)."""
from __future__ import annotations

from mexflow.resources import load_resource

_MISSING = object()


def label_sets() -> dict[str, list[str]]:
    """Target name -> ordered class names, e.g. {'class5': [...], 'class3': [...]}."""
    res = load_resource("labels.yaml")
    return {"class5": list(res["class5_labels"]), "class3": list(res["class3_labels"])}


def map_label(corpus_format: str, raw: str) -> tuple[str | None, str | None]:
    """Raw annotated label -> (class5, class3); None where the label is not in that set.

    Raises KeyError for a label the corpus' vocabulary does not contain.
    """
    maps = load_resource("labels.yaml")[corpus_format]
    key = str(raw).strip().lower()
    c5 = maps["class5"].get(key, _MISSING)
    c3 = maps["class3"].get(key, _MISSING)
    if c5 is _MISSING or c3 is _MISSING:
        raise KeyError(f"unknown {corpus_format} label {raw!r}; known: {sorted(maps['class5'])}")
    return c5, c3
