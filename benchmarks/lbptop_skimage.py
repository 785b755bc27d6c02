"""LBP-TOP built on scikit-image: the in-repository baseline that bench_lbptop.py and
bench_features.py time against mexflow.features.lbp.lbp_top in the same process.

`skimage.feature.local_binary_pattern(plane, P, R, method="default")` (bilinear sampling, point p
at row -R sin(2 pi p / P), column +R cos(2 pi p / P), bit weight 2**p, neighbour >= centre) on
every plane of the clip:

    XY: each frame V[t]        (rows y, columns x), for the valid t
    XT: each row slice V[:, y] (rows t, columns x), for the valid y
    YT: each column V[:, :, x] (rows t, columns y), for the valid x

then the raw codes of the valid centres (t, y, x each at least ceil(R) from the edge) go through
the u2 table (uniform codes in increasing code order, then one bin for all non-uniform codes), are
counted per block with np.bincount, and each plane's histogram is divided by its sum; blocks are
laid out as mexflow documents (b = n / (1 + (k - 1)(1 - overlap)), step b (1 - overlap), block i
covers [round(i step), round(i step + b)) clipped to the valid centres), one time slab, the
vector ordered block rows, block columns, planes XY | XT | YT.

scikit-image takes one radius per plane, so the baseline needs Rx = Ry = Rt. It interpolates as
(1 - f) a + f b with weights from the absolute coordinate where mexflow uses a + f (b - a) with
weights from the offset, so the two can disagree only on exact interpolation ties: neighbours whose
exact-arithmetic interpolant equals the centre, where each implementation's float rounding decides
the bit. Ties need plateaus or locally linear patches running along the sampling direction (at 45
degrees with R = 3 the two fractional weights sum to 1): random 8-bit clips practically never have
them, smooth real frames have a few. `tie_report` finds every differing bit and checks it is such a
tie (exactly, with fractions); the benchmarks report it.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from skimage.feature import local_binary_pattern


def u2_table(P: int) -> tuple[np.ndarray, int]:
    """(table code -> bin, n_bins): uniform codes (at most 2 circular transitions) in increasing
    code order, then one bin for all non-uniform codes (59 bins for P = 8)."""
    codes = np.arange(2**P, dtype=np.int64)
    rotated = (codes >> 1) | ((codes & 1) << (P - 1))
    transitions = np.array([bin(int(c)).count("1") for c in codes ^ rotated])
    uniform = transitions <= 2
    n_uniform = int(uniform.sum())
    table = np.full(2**P, n_uniform, dtype=np.intp)
    table[uniform] = np.arange(n_uniform)
    return table, n_uniform + 1


def block_edges(n: int, parts: int, overlap: float, margin: int) -> list[tuple[int, int]]:
    """Blocks along an axis of n pixels, clipped to the valid centres and shifted to them."""
    size = n / (1 + (parts - 1) * (1 - overlap))
    step = size * (1 - overlap)
    out = []
    for i in range(parts):
        start = min(max(round(i * step), margin), n - margin)
        end = max(min(round(i * step + size), n - margin), margin)
        if end <= start:
            raise ValueError(f"block {i} of {parts} along {n} pixels has no valid centre")
        out.append((start - margin, end - margin))
    return out


def plane_codes(volume: np.ndarray, P: int, R: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw scikit-image codes of the XY, XT and YT planes on the valid centre volume."""
    V = np.asarray(volume)
    T, H, W = V.shape
    m = math.ceil(R)
    xy = np.stack([local_binary_pattern(V[t], P, R) for t in range(m, T - m)])[:, m:H - m, m:W - m]
    xt = np.stack([local_binary_pattern(V[:, y, :], P, R) for y in range(m, H - m)], axis=1)
    yt = np.stack([local_binary_pattern(V[:, :, x], P, R) for x in range(m, W - m)], axis=2)
    return (xy.astype(np.intp), xt[m:T - m, :, m:W - m].astype(np.intp),
            yt[m:T - m, m:H - m, :].astype(np.intp))


def lbp_top_skimage(volume, P: int = 8, radii=(3.0, 3.0, 3.0), grid=(8, 8), overlap: float = 0.7,
                    time_parts: int = 1, mapping: str = "u2", normalise: bool = True) -> np.ndarray:
    """LBP-TOP block histograms of a (T, H, W) clip from scikit-image's LBP per plane, as a float32
    vector laid out like mexflow's `lbp_top` (same keyword names; only equal radii, u2, one slab)."""
    rx, ry, rt = (float(r) for r in radii)
    if not rx == ry == rt:
        raise ValueError(f"scikit-image takes one radius per plane; got radii {radii}")
    if mapping != "u2" or time_parts != 1 or not isinstance(P, int):
        raise ValueError("the scikit-image baseline covers one P, u2 and one time slab")
    V = np.asarray(volume)
    m = math.ceil(rx)
    table, n_bins = u2_table(P)
    codes = plane_codes(V, P, rx)
    rows = block_edges(V.shape[1], grid[0], overlap, m)
    cols = block_edges(V.shape[2], grid[1], overlap, m)
    out = []
    for y0, y1 in rows:
        for x0, x1 in cols:
            for plane in codes:
                raw = np.bincount(plane[:, y0:y1, x0:x1].ravel(), minlength=2**P)
                hist = np.bincount(table, weights=raw, minlength=n_bins)
                out.append(hist / hist.sum() if normalise else hist)
    return np.concatenate(out).astype(np.float32)


def tie_report(volume, P: int = 8, R: float = 3.0) -> dict:
    """Where scikit-image's and mexflow's raw LBP-TOP codes differ: codes and bits per plane, and
    how many of those bits are exact interpolation ties (the neighbour's bilinear interpolant,
    computed exactly with fractions from the 5-decimal offsets both libraries use, equals the
    centre)."""
    from mexflow.features.lbp import lbp_top_codes

    V = np.asarray(volume)
    m = math.ceil(R)
    ours = lbp_top_codes(V, P=P, radii=(R, R, R), mapping=None)
    theirs = plane_codes(V, P, R)
    angles = 2 * np.pi * np.arange(P) / P
    offsets = [(Fraction(f"{dv:.5f}"), Fraction(f"{dh:.5f}"))
               for dv, dh in zip(np.round(-R * np.sin(angles), 5), np.round(R * np.cos(angles), 5))]
    report = {"codes": 0, "bits": 0, "ties": 0, "per_plane": {}}
    for name, (va, ha), a, b in zip(("XY", "XT", "YT"), ((1, 2), (0, 2), (0, 1)), ours, theirs):
        where = np.argwhere(a != b)
        bits = ties = 0
        for t, y, x in where:
            centre = (t + m, y + m, x + m)
            diff = int(a[t, y, x]) ^ int(b[t, y, x])
            for p in range(P):
                if not diff >> p & 1:
                    continue
                bits += 1
                dv, dh = offsets[p]
                iv, ih = math.floor(dv), math.floor(dh)
                fv, fh = dv - iv, dh - ih

                def at(kv: int, kh: int) -> int:
                    q = list(centre)
                    q[va] += iv + kv
                    q[ha] += ih + kh
                    return int(V[tuple(q)])

                top = at(0, 0) + fh * (at(0, 1) - at(0, 0)) if fh else Fraction(at(0, 0))
                if fv:
                    bottom = at(1, 0) + fh * (at(1, 1) - at(1, 0)) if fh else Fraction(at(1, 0))
                    top = top + fv * (bottom - top)
                ties += top == int(V[centre])
        report["per_plane"][name] = {"codes": len(where), "bits": bits, "ties": ties}
        report["codes"] += len(where)
        report["bits"] += bits
        report["ties"] += ties
    report["all_ties"] = report["ties"] == report["bits"]
    return report
