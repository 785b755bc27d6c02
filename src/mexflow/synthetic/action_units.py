"""Action-unit displacement fields anchored at MediaPipe FaceMesh landmarks.

Each AU (resources/action_units.yaml) is a sum of Gaussian bumps: at anchor k, landmark p_k,
unit direction u_k, width sigma_k (fraction of the inter-ocular distance), weight w_k,

    D_AU(x) = sum_k w_k * u_k * exp(-|x - p_k|^2 / (2 (sigma_k * IOD)^2))      [pixels]

An expression is a weighted sum of AU fields, rescaled so that its peak magnitude equals the
clip's apex displacement in pixels.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mexflow.resources import load_resource

_AU_TOKEN = re.compile(r"^\s*([LRBT]?)\s*(\d+)\s*([A-Za-z]?)\s*(?:\((\w+)\))?\s*$")


@dataclass(frozen=True)
class AUCode:
    """One coded action unit: number, side ('L', 'R' or '' for bilateral) and optional marks."""

    au: int
    side: str = ""
    mark: str = ""

    def __str__(self) -> str:
        return f"{self.side}{self.au}" + (f"({self.mark})" if self.mark else "")


def parse_au_string(text: str) -> list[AUCode]:
    """Parse an annotation string such as '4+7', 'R12', 'L2+4', '12(k)' or '1+2+R12'.

    Returns the AU codes in order; an empty or '/' cell gives []. Raises ValueError on a token it
    cannot read (the caller adds the corpus, clip and file to the message).
    """
    if text is None:
        return []
    text = str(text).strip()
    if text in ("", "/", "-", "nan"):
        return []
    codes = []
    for token in re.split(r"[+,;]", text):
        if not token.strip():
            continue
        m = _AU_TOKEN.match(token)
        if not m:
            raise ValueError(f"unreadable action unit {token!r} in {text!r}")
        side = m.group(1) if m.group(1) in ("L", "R") else ""
        codes.append(AUCode(int(m.group(2)), side, m.group(4) or ""))
    return codes


def au_specs() -> dict[int, dict]:
    """AU number -> spec {'name', 'anchors': [{landmark, side, direction, sigma, weight}]}."""
    return {int(k): v for k, v in load_resource("action_units.yaml").items()}


def au_field(code: AUCode, landmarks: np.ndarray, iod: float, shape: tuple[int, int]) -> np.ndarray:
    """Displacement field of one AU (unit weight), before per-clip scaling.

    landmarks: (478, 2) float (x, y) pixels; iod: inter-ocular distance in pixels;
    shape: (H, W). Returns (H, W, 2) float32 (dx, dy) in pixels. A lateral code (side 'L'/'R')
    keeps only that side's anchors and the central ones.
    """
    specs = au_specs()
    if code.au not in specs:
        raise KeyError(f"AU {code.au} has no displacement field in resources/action_units.yaml")
    h, w = shape
    field = np.zeros((h, w, 2), np.float32)
    for anchor in specs[code.au]["anchors"]:
        if code.side and anchor["side"] not in (code.side, "C"):
            continue
        px, py = landmarks[anchor["landmark"]]
        sigma = anchor["sigma"] * iod
        d = np.asarray(anchor["direction"], np.float64)
        d = d / np.linalg.norm(d) * anchor["weight"]
        # Evaluate only inside +-4 sigma: the bump is < 3.4e-4 of its peak outside.
        r = int(np.ceil(4 * sigma))
        x0, x1 = max(int(px) - r, 0), min(int(px) + r + 1, w)
        y0, y1 = max(int(py) - r, 0), min(int(py) + r + 1, h)
        if x0 >= x1 or y0 >= y1:
            continue
        xs = np.arange(x0, x1, dtype=np.float64) - px
        ys = np.arange(y0, y1, dtype=np.float64) - py
        g = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))
        field[y0:y1, x0:x1, 0] += (g * d[0]).astype(np.float32)
        field[y0:y1, x0:x1, 1] += (g * d[1]).astype(np.float32)
    return field


def expression_field(
    codes: list[AUCode],
    weights: list[float],
    landmarks: np.ndarray,
    iod: float,
    shape: tuple[int, int],
    peak_px: float,
) -> np.ndarray:
    """Apex displacement field of an expression: weighted AU fields rescaled to `peak_px`.

    Returns (H, W, 2) float32 pixels whose largest vector magnitude equals peak_px exactly.
    """
    if not codes:
        raise ValueError("an expression needs at least one action unit")
    total = np.zeros((*shape, 2), np.float32)
    for code, wgt in zip(codes, weights):
        total += np.float32(wgt) * au_field(code, landmarks, iod, shape)
    peak = float(np.sqrt((total.astype(np.float64) ** 2).sum(-1)).max())
    if peak <= 0:
        raise ValueError(f"action units {[str(c) for c in codes]} produce no motion on this face")
    return (total * np.float32(peak_px / peak)).astype(np.float32)
