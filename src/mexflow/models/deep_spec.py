"""Settings of the deep recognisers: every key a `models:` entry of kind cnn3d, cnn_lstm or
two_stream may carry, its default and its validation (see `mexflow.models.deep` for what each key
does). Free of torch, so the workflow can check a config without loading it."""
from __future__ import annotations

import numbers
from collections.abc import Sequence

from mexflow.params import nonnegative_number, positive_int

__all__ = ["NET_DEFAULTS", "TRAIN_DEFAULTS", "CALLER_KEYS", "resolve_spec"]

#: Architecture knobs per kind (every allowed key, with its default).
NET_DEFAULTS: dict[str, dict] = {
    "cnn3d": dict(spatial_dropout=0.2, dropout=0.3, au_head=True, width=1.0),
    "cnn_lstm": dict(dropout=0.3, au_head=True, width=1.0, hidden=256),
    "two_stream": dict(dropout=0.2, au_head=False, frame_channels=3, widths=(16, 32, 64, 128),
                       proj=256, stem="small"),
}
TRAIN_DEFAULTS = dict(epochs=30, batch_size=4, lr=1e-4, weight_decay=0.0, au_weight=2.0,
                      focal_gamma=2.0, label_smoothing=0.0, class_weighted=True, augment=False,
                      hflip_negate=None, eval_batch_size=32, input_size=None)
_KIND_TRAIN_DEFAULTS = {"two_stream": dict(label_smoothing=0.1)}
#: Keys a `models:` entry may carry for the caller (ignored here).
CALLER_KEYS = ("kind", "features", "feature_set", "layout", "description", "threads", "gpus")


# --------------------------------------------------------------------------------------- spec

def _parse_epochs(v) -> tuple[int, ...] | int:
    """int -> int; {select, validation_fraction} -> (sorted unique candidates..., fraction) dict."""
    if isinstance(v, dict):
        unknown = set(v) - {"select", "validation_fraction"}
        if unknown or "select" not in v:
            raise ValueError(f"epochs mapping needs 'select' (and optionally 'validation_fraction'), got {v!r}")
        sel = v["select"]
        if isinstance(sel, (str, bytes)) or not isinstance(sel, Sequence) or not sel:
            raise ValueError(f"epochs.select must be a non-empty list of ints, got {sel!r}")
        cands = tuple(sorted({positive_int(e, "epochs.select entry") for e in sel}))
        frac = v.get("validation_fraction", 0.25)
        if isinstance(frac, bool) or not isinstance(frac, numbers.Real) or not 0 < frac < 1:
            raise ValueError(f"epochs.validation_fraction must be in (0, 1), got {frac!r}")
        return {"select": cands, "validation_fraction": float(frac)}
    return positive_int(v, "epochs")


def resolve_spec(spec: dict) -> dict:
    """Complete, validated settings (training defaults, per-kind defaults, architecture knobs)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"spec must be a mapping with a 'kind', got {spec!r}")
    kind = spec["kind"]
    if kind not in NET_DEFAULTS:
        raise ValueError(f"unknown deep model kind {kind!r}; expected one of {list(NET_DEFAULTS)}")
    allowed = {**TRAIN_DEFAULTS, **_KIND_TRAIN_DEFAULTS.get(kind, {}), **NET_DEFAULTS[kind]}
    unknown = set(spec) - set(allowed) - set(CALLER_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) for a {kind} model: {sorted(unknown)}; allowed: "
                         f"{sorted(set(allowed) | set(CALLER_KEYS))}")
    s = {**allowed, **{k: spec[k] for k in spec if k in allowed}, "kind": kind}
    s["epochs"] = _parse_epochs(s["epochs"])
    for k in ("batch_size", "eval_batch_size"):
        s[k] = positive_int(s[k], k)
    for k in ("weight_decay", "au_weight", "focal_gamma", "label_smoothing"):
        s[k] = nonnegative_number(s[k], k)
    s["lr"] = nonnegative_number(s["lr"], "lr")
    if not s["lr"] > 0:
        raise ValueError("lr must be > 0")
    if s["label_smoothing"] >= 1:
        raise ValueError(f"label_smoothing must be < 1, got {s['label_smoothing']}")
    if s["input_size"] is not None:
        s["input_size"] = positive_int(s["input_size"], "input_size")
    if s["augment"] is True:
        s["augment"] = "hflip"
    if s["augment"] not in (False, None, "hflip"):
        raise ValueError(f"augment must be false or 'hflip', got {s['augment']!r}")
    s["augment"] = s["augment"] or False
    if s["augment"]:
        neg = s["hflip_negate"]
        if neg is None or isinstance(neg, (str, bytes)) or not isinstance(neg, Sequence):
            raise ValueError("augment 'hflip' needs hflip_negate: the list of horizontal-flow channels "
                             "whose sign flips under a mirror (e.g. [0] for flow_strain; [] for images)")
        s["hflip_negate"] = tuple(int(c) for c in neg)
    else:
        s["hflip_negate"] = ()
    if not isinstance(s["class_weighted"], bool):
        raise ValueError(f"class_weighted must be true or false, got {s['class_weighted']!r}")
    return s
