"""Exact, vectorised LBP and LBP-TOP (Zhao & Pietikäinen, 2007).

Definitions
-----------
A volume ``V`` has shape ``(T, H, W)`` (any real dtype; all arithmetic is done
in float64).  Radii are given as ``(Rx, Ry, Rt)``; each must be finite and
``>= 1`` and may be non-integer.

Sampling.  Sampling point ``p = 0 .. P-1`` of a plane sits at angle
``theta_p = 2*pi*p / P``.  Its offsets from the centre are ``-R_v*sin(theta_p)``
along the plane's *vertical* axis and ``R_h*cos(theta_p)`` along its
*horizontal* axis, each rounded to 5 decimals with ``np.round`` (so that
``sin(pi)`` is exactly 0, as scikit-image does):

====== ============================ =================== =====================
plane  neighbour of (t, y, x)       vertical axis (R_v) horizontal axis (R_h)
====== ============================ =================== =====================
XY     (t, y - Ry sin, x + Rx cos)  y (Ry)              x (Rx)
XT     (t - Rt sin, y, x + Rx cos)  t (Rt)              x (Rx)
YT     (t - Rt sin, y + Ry cos, x)  t (Rt)              y (Ry)
====== ============================ =================== =====================

Bilinear interpolation.  An offset ``d`` is split into ``i = floor(d)`` and
``f = d - i`` (computed once per offset, *not* per absolute coordinate, so the
weights are identical for every centre).  With ``a, b`` the samples at ``i``
and ``i + 1`` the 1-D interpolant is ``a + f*(b - a)``, and simply ``a`` when
``f == 0`` (then ``i + 1`` is never read).  The plane interpolant first
interpolates along the horizontal axis on the two rows ``iv`` and ``iv + 1``
(``top``, ``bottom``) and then vertically: ``top + fv*(bottom - top)``.  This
"lerp" form returns exactly ``a`` when ``a == b``, so on a constant volume
every neighbour equals the centre.

Bits and codes.  Bit ``p`` is 1 iff ``g_p >= g_c`` (``g_c`` the centre value);
the raw code is ``sum_p bit_p * 2**p``.  A constant volume is therefore valid
and gives the all-ones code ``2**P - 1`` in every plane.

Valid centres.  A centre is used iff every neighbour of every plane lies in
the volume without extrapolation: ``t in [ceil(Rt), T - ceil(Rt))``,
``y in [ceil(Ry), H - ceil(Ry))``, ``x in [ceil(Rx), W - ceil(Rx))``.  All three
planes share this valid centre volume of shape ``(T', H', W')``.  Every frame
of the clip is used (as centre and/or neighbour); nothing is truncated.

Mappings (:func:`lbp_mapping`)
    ``"u2"``   uniform patterns (at most 2 circular 0/1 transitions), each its
               own bin in increasing code order, then one bin for all
               non-uniform codes: ``P*(P-1) + 3`` bins (59 for P=8).
    ``"riu2"`` uniform codes -> their number of ones (0..P), non-uniform ->
               ``P + 1``: ``P + 2`` bins.
    ``"ri"``   rotation invariant: a code maps to the minimum over its circular
               bit rotations; bins are those minima in increasing order (36
               for P=8).
    ``None``   identity, ``2**P`` bins.

Block histograms (:func:`lbp_top`)
    Along an axis of length ``n`` split into ``k`` parts with fractional
    overlap ``o`` the block size is ``b = n / (1 + (k-1)*(1-o))`` and the step
    ``s = b*(1-o)``; block ``i`` covers ``[round(i*s), round(i*s + b))`` with
    Python's ``round`` (half to even), clipped to ``[0, n]``.  Blocks are laid
    over the whole frame: ``grid = (rows, cols)`` with ``overlap`` over
    ``H`` and ``W``, and ``time_parts`` slabs over ``T`` with the same formula
    and overlap 0 (time slabs never overlap).  A block's histogram counts the
    valid centres falling in it; a block without any valid centre is a
    ``ValueError`` (with or without normalisation).  With ``normalise=True``
    each plane's histogram in each block is divided by its sum (float64
    division), otherwise raw counts are returned.

    Output layout: slabs (outer), block rows, block columns (row-major), then
    planes XY | XT | YT (inner), each plane's histogram ``n_bins(P_plane)``
    long.  With the same P for all planes the length is
    ``time_parts * rows * cols * 3 * n_bins`` (11,328 for P=8, u2, 8x8 blocks,
    one slab); with different P per plane each block holds
    ``n_bins(P_xy) + n_bins(P_xt) + n_bins(P_yt)`` values in that order.
    The vector is float32.

Relation to scikit-image.  ``lbp_image(..., mapping=None)`` equals
``skimage.feature.local_binary_pattern(..., method="default")`` on the valid
interior, and ``mapping="u2"`` equals ``method="nri_uniform"`` up to a fixed
bin permutation (scikit-image orders uniform patterns by number of ones and
rotation, here by code value; both put non-uniform codes in the last bin).
They can differ only on exact interpolation ties, because scikit-image
interpolates as ``(1-f)*a + f*b`` with weights from the absolute coordinate.
An exact tie is a neighbour whose exact-arithmetic interpolant equals the
centre: on plateaus of equal values, and on locally linear patches running
along the sampling direction (at 45 degrees with R = 3 the two fractional
weights sum to 1, so a ramp like ``x + y`` ties).  There a bit follows float64
rounding of the formula above, which is not always the exact-arithmetic answer
(neither is scikit-image's).  Random 8-bit images practically never tie; a
smooth 10x224x224 face clip has about 0.03 % tied codes
(``benchmarks/lbptop_skimage.py`` counts and checks them).

Implementation.  Everything runs on the flattened volume, where a neighbour at
integer offsets is a constant index shift, so every numpy operation is a
single contiguous 1-D pass over the range spanning the valid centres (border
positions inside that range are computed and discarded).  Per distinct
horizontal offset the horizontal interpolant is computed once (XY and XT share
their x offsets); each sampling point then costs one vertical lerp and one
comparison.  Codes are built with integer shifts, mapped through a lookup
table and histogrammed with one ``np.bincount`` per plane over the disjoint
"elementary cells" delimited by all block edges; overlapping block histograms
are then exact integer sums of cell histograms (prefix sums over cells).
Scratch buffers are reused per thread between calls (no page-fault storm from
fresh multi-megabyte temporaries); the module starts no threads and uses no
BLAS, so it is safe to call from several threads or processes at once.
:func:`lbp_top_reference` is a plain per-pixel implementation of the same
definitions, used only by the tests.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Sequence

import numpy as np

__all__ = [
    "lbp_mapping",
    "lbp_image",
    "lbp_image_stack",
    "lbp_top_codes",
    "lbp_top",
    "lbp_top_reference",
]

_MAPPINGS = ("u2", "ri", "riu2", None)
_MAX_P = 24

# Planes as (name, vertical axis, horizontal axis); volume axes are 0=t, 1=y, 2=x.
_PLANES = (("XY", 1, 2), ("XT", 0, 2), ("YT", 0, 1))
# Volume axis -> index into radii (Rx, Ry, Rt).
_AXIS_TO_RADIUS = (2, 1, 0)


# --------------------------------------------------------------------------- #
# Argument handling
# --------------------------------------------------------------------------- #
def _check_P(P: object) -> int:
    if isinstance(P, (bool, np.bool_)) or not isinstance(P, numbers.Integral):
        raise ValueError(f"P must be an integer, got {P!r}")
    P = int(P)
    if not 2 <= P <= _MAX_P:
        raise ValueError(f"P must be in [2, {_MAX_P}], got {P}")
    return P


def _check_mapping(mapping: object) -> str | None:
    if mapping not in _MAPPINGS:
        raise ValueError(f"mapping must be one of {_MAPPINGS}, got {mapping!r}")
    return mapping  # type: ignore[return-value]


def _parse_P(P: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(P, numbers.Integral) and not isinstance(P, (bool, np.bool_)):
        p = _check_P(P)
        return (p, p, p)
    try:
        items = tuple(P)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"P must be an int or a 3-tuple (XY, XT, YT), got {P!r}") from None
    if len(items) != 3:
        raise ValueError(f"P must be an int or a 3-tuple (XY, XT, YT), got {P!r}")
    return tuple(_check_P(p) for p in items)  # type: ignore[return-value]


def _check_radius(r: object, name: str) -> float:
    if isinstance(r, (bool, np.bool_)) or not isinstance(r, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {r!r}")
    r = float(r)
    if not math.isfinite(r) or r < 1.0:
        raise ValueError(f"{name} must be finite and >= 1, got {r}")
    return r


def _parse_radii(radii: Sequence[float]) -> tuple[float, float, float]:
    try:
        items = tuple(radii)
    except TypeError:
        raise ValueError(f"radii must be a 3-tuple (Rx, Ry, Rt), got {radii!r}") from None
    if len(items) != 3:
        raise ValueError(f"radii must be a 3-tuple (Rx, Ry, Rt), got {radii!r}")
    rx, ry, rt = (_check_radius(r, n) for r, n in zip(items, ("Rx", "Ry", "Rt")))
    return rx, ry, rt


def _as_float_array(a: object, ndim: int, what: str, ws: "_Workspace | None" = None) -> np.ndarray:
    """Validated C-contiguous float64 copy/view of ``a`` (into ``ws`` scratch if given)."""
    arr = np.asarray(a)
    if arr.ndim != ndim:
        raise ValueError(f"{what} must be {ndim}-D, got an array of shape {arr.shape}")
    if arr.dtype != np.bool_ and not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{what} must have a real (bool/integer/float) dtype, got {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or inf values")
    if ws is None or (arr.dtype == np.float64 and arr.flags.c_contiguous):
        return np.ascontiguousarray(arr, dtype=np.float64)
    out = ws.get("volume", arr.shape, np.float64)
    np.copyto(out, arr, casting="unsafe")  # every real dtype converts exactly or as float64(x)
    return out


class _Workspace:
    """Per-thread scratch buffers reused across calls.

    Allocating fresh multi-megabyte temporaries on every call costs thousands of
    page faults (about half the run time for a 10x224x224 clip), so scratch
    arrays are kept between calls.  Only arrays that never escape to the caller
    live here.  Buffers are dropped when more than ``_WS_MAX_BYTES`` would be
    held.
    """

    def __init__(self) -> None:
        self.buffers: dict[tuple, np.ndarray] = {}
        self.nbytes = 0

    def get(self, tag: object, shape, dtype) -> np.ndarray:
        shape = tuple(shape) if isinstance(shape, tuple) else (int(shape),)
        key = (tag, shape, np.dtype(dtype).str)
        buf = self.buffers.get(key)
        if buf is None:
            buf = np.empty(shape, dtype=dtype)
            if self.nbytes + buf.nbytes > _WS_MAX_BYTES:
                self.buffers.clear()
                self.nbytes = 0
            if buf.nbytes <= _WS_MAX_BYTES:
                self.buffers[key] = buf
                self.nbytes += buf.nbytes
        return buf


_WS_MAX_BYTES = 256 * 2**20
_WS_LOCAL = threading.local()


def _workspace() -> _Workspace:
    ws = getattr(_WS_LOCAL, "ws", None)
    if ws is None:
        ws = _WS_LOCAL.ws = _Workspace()
    return ws


def _margins(
    shape: tuple[int, int, int], radii: tuple[float, float, float]
) -> tuple[int, int, int]:
    """Margins (t, y, x) = ceil of (Rt, Ry, Rx); checks the volume is large enough."""
    rx, ry, rt = radii
    m = (math.ceil(rt), math.ceil(ry), math.ceil(rx))
    T, H, W = shape
    if T < 2 * m[0] + 1:
        raise ValueError(
            f"volume too short in time: T={T} frames but Rt={rt} needs at least "
            f"2*ceil(Rt)+1={2 * m[0] + 1}"
        )
    if H < 2 * m[1] + 1:
        raise ValueError(f"frame height H={H} too small for Ry={ry}: need at least {2 * m[1] + 1}")
    if W < 2 * m[2] + 1:
        raise ValueError(f"frame width W={W} too small for Rx={rx}: need at least {2 * m[2] + 1}")
    return m


def _parse_blocks(
    grid: Sequence[int], overlap: float, time_parts: int
) -> tuple[int, int, float, int]:
    try:
        rows, cols = (int(g) for g in grid)
        if any(isinstance(g, bool) or not isinstance(g, numbers.Integral) for g in grid):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f"grid must be a pair of ints (rows, cols), got {grid!r}") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"grid must have rows, cols >= 1, got {grid!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, numbers.Real):
        raise ValueError(f"overlap must be a real number in [0, 1), got {overlap!r}")
    overlap = float(overlap)
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if (
        isinstance(time_parts, bool)
        or not isinstance(time_parts, numbers.Integral)
        or time_parts < 1
    ):
        raise ValueError(f"time_parts must be an int >= 1, got {time_parts!r}")
    return rows, cols, overlap, int(time_parts)


def _sample_offsets(P: int, r_v: float, r_h: float) -> list[tuple[int, float, int, float]]:
    """For each sampling point p: (iv, fv, ih, fh) with offset = i + f, 0 <= f < 1."""
    ang = 2 * np.pi * np.arange(P, dtype=np.float64) / P
    dv = np.round(-r_v * np.sin(ang), 5)
    dh = np.round(r_h * np.cos(ang), 5)
    out = []
    for v, h in zip(dv.tolist(), dh.tolist()):
        iv = math.floor(v)
        ih = math.floor(h)
        out.append((iv, v - iv, ih, h - ih))
    return out


def _block_edges(n: int, parts: int, overlap: float) -> list[tuple[int, int]]:
    """Block i covers [round(i*s), round(i*s + b)) along an axis of length n."""
    size = n / (1 + (parts - 1) * (1 - overlap))
    step = size * (1 - overlap)
    edges = []
    for i in range(parts):
        s = min(max(round(i * step), 0), n)
        e = min(max(round(i * step + size), 0), n)
        edges.append((s, e))
    return edges


def _valid_blocks(
    n: int, parts: int, overlap: float, margin: int, what: str
) -> list[tuple[int, int]]:
    """Blocks clipped to the valid centres [margin, n - margin), in valid coordinates."""
    lo, hi = margin, n - margin
    out = []
    for i, (s, e) in enumerate(_block_edges(n, parts, overlap)):
        cs, ce = max(s, lo), min(e, hi)
        if ce <= cs:
            raise ValueError(
                f"{what} {i} covers [{s}, {e}) of {n} but valid centres are [{lo}, {hi}) "
                f"(radius margin {margin}): the block contains no valid centre, so its "
                f"histogram cannot be normalised; use fewer blocks or a smaller radius"
            )
        out.append((cs - lo, ce - lo))
    return out


# --------------------------------------------------------------------------- #
# Mappings
# --------------------------------------------------------------------------- #
def _transitions(codes: np.ndarray, P: int) -> np.ndarray:
    rot = (codes >> 1) | ((codes & 1) << (P - 1))
    x = codes ^ rot
    n = np.zeros_like(codes)
    for p in range(P):
        n += (x >> p) & 1
    return n


@lru_cache(maxsize=32)
def _mapping_cached(P: int, mapping: str | None) -> tuple[np.ndarray, int]:
    codes = np.arange(2**P, dtype=np.int64)
    if mapping is None:
        lut = codes.copy()
        n_bins = 2**P
    elif mapping in ("u2", "riu2"):
        uniform = _transitions(codes, P) <= 2
        if mapping == "u2":
            lut = np.cumsum(uniform) - 1
            n_bins = int(uniform.sum()) + 1
            lut[~uniform] = n_bins - 1
        else:
            ones = np.zeros_like(codes)
            for p in range(P):
                ones += (codes >> p) & 1
            lut = np.where(uniform, ones, P + 1)
            n_bins = P + 2
    else:  # "ri"
        best = codes.copy()
        cur = codes.copy()
        for _ in range(P - 1):
            cur = (cur >> 1) | ((cur & 1) << (P - 1))
            np.minimum(best, cur, out=best)
        reps, lut = np.unique(best, return_inverse=True)
        n_bins = int(reps.size)
    lut = np.ascontiguousarray(lut, dtype=np.intp)
    lut.setflags(write=False)
    return lut, n_bins


def lbp_mapping(P: int, mapping: str | None) -> tuple[np.ndarray, int]:
    """Lookup table from raw P-bit codes to bins, and the number of bins.

    Returns ``(lut, n_bins)`` with ``lut`` an int array of shape ``(2**P,)``.
    ``mapping`` is ``"u2"`` (``P*(P-1)+3`` bins), ``"riu2"`` (``P+2``), ``"ri"``
    or ``None`` (``2**P``); see the module docstring.
    """
    lut, n_bins = _mapping_cached(_check_P(P), _check_mapping(mapping))
    return lut.copy(), n_bins


# --------------------------------------------------------------------------- #
# Vectorised codes
# --------------------------------------------------------------------------- #
def _code_dtype(P: int) -> type:
    return np.uint8 if P <= 8 else (np.uint16 if P <= 16 else np.uint32)


class _FlatLayout:
    """Flat-index view of the valid centre volume of a C-contiguous (T, H, W) array.

    A centre (t, y, x) of the valid volume (t, y, x counted from the margins) has
    flat index ``k0 + i`` in the volume with ``i = t*H*W + y*W + x``; a neighbour at
    integer offsets (dt, dy, dx) is at ``k0 + i + dt*H*W + dy*W + dx``.  All
    arithmetic is done on the contiguous range ``i in [0, n)`` that spans every
    valid centre; the few positions in between whose y or x lies in the border
    ("padding" positions) read in-bounds but meaningless values and are
    discarded.  Results live in arrays of length ``L = T'*H*W`` that reshape to
    ``(T', H, W)`` and are cropped to ``(T', H', W')``.
    """

    def __init__(self, shape: tuple[int, int, int], m: tuple[int, int, int]):
        T, H, W = shape
        self.shape = shape
        self.m = m
        self.strides = (H * W, W, 1)
        self.valid_shape = (T - 2 * m[0], H - 2 * m[1], W - 2 * m[2])
        Tv, Hv, Wv = self.valid_shape
        self.k0 = m[0] * H * W + m[1] * W + m[2]
        self.n = (Tv - 1) * H * W + (Hv - 1) * W + Wv
        self.L = Tv * H * W

    def crop(self, flat: np.ndarray) -> np.ndarray:
        _, H, W = self.shape
        Tv, Hv, Wv = self.valid_shape
        return flat.reshape(Tv, H, W)[:, :Hv, :Wv]


def _flat_raw_codes(
    V: np.ndarray,
    m: tuple[int, int, int],
    planes: Sequence[tuple[int, int, int, float, float]],
    ws: _Workspace | None = None,
) -> tuple[_FlatLayout, list[np.ndarray]]:
    """Raw (unmapped) codes for each plane ``(va, ha, P, r_v, r_h)``, flat layout.

    Per distinct horizontal offset (axis, ih, fh) the horizontal interpolant
    ``a + fh*(b - a)`` is computed once on the flat range that any plane needs
    (XY and XT share their x offsets); each sampling point then costs one
    vertical lerp ``top + fv*(bottom - top)`` and one comparison.  With ``ws``
    the returned code arrays are scratch buffers of that workspace.
    """
    scratch = ws if ws is not None else _workspace()
    lay = _FlatLayout(V.shape, m)
    flat = V.reshape(-1)
    size = flat.size
    k0, n, st = lay.k0, lay.n, lay.strides

    # Sampling points of every plane, and the flat range each horizontal interpolant needs.
    samples = []
    need: dict[tuple[int, int, float], list[int]] = {}
    for va, ha, P, r_v, r_h in planes:
        offs = _sample_offsets(P, r_v, r_h)
        samples.append((va, P, offs))
        for iv, fv, ih, fh in offs:
            key = (ha, ih, fh)
            lo = k0 + iv * st[va]
            hi = lo + n + (st[va] if fv != 0.0 else 0)
            rng_ = need.setdefault(key, [lo, hi])
            rng_[0] = min(rng_[0], lo)
            rng_[1] = max(rng_[1], hi)

    hk: dict[tuple[int, int, float], tuple[np.ndarray, int]] = {}
    for (ha, ih, fh), (lo, hi) in need.items():
        s_a = lo + ih * st[ha]
        s_b = s_a + st[ha]
        if s_a < 0 or hi + ih * st[ha] > size or (fh != 0.0 and hi + (ih + 1) * st[ha] > size):
            raise AssertionError("internal error: neighbour outside the volume")  # pragma: no cover
        a = flat[s_a : s_a + (hi - lo)]
        if fh == 0.0:
            hk[(ha, ih, fh)] = (a, lo)
        else:
            b = flat[s_b : s_b + (hi - lo)]
            r = np.subtract(b, a, out=scratch.get(("hk", ha, ih, fh), hi - lo, np.float64))
            np.multiply(r, fh, out=r)
            np.add(r, a, out=r)  # a + fh*(b - a)
            hk[(ha, ih, fh)] = (r, lo)

    centre = flat[k0 : k0 + n]
    g = scratch.get("g", n, np.float64)
    ge = scratch.get("ge", n, np.bool_)
    codes = []
    for k, ((va, P, offs), (_, ha, _, _, _)) in enumerate(zip(samples, planes)):
        dt = _code_dtype(P)
        if ws is None:
            code_full = np.zeros(lay.L, dtype=dt)
        else:
            code_full = ws.get(("code", k), lay.L, dt)
            code_full[n:] = 0
        code = code_full[:n]
        bits = scratch.get(("bits", k), n, dt)
        for p, (iv, fv, ih, fh) in enumerate(offs):
            arr, j0 = hk[(ha, ih, fh)]
            s = k0 + iv * st[va] - j0
            top = arr[s : s + n]
            if fv == 0.0:
                val = top
            else:
                bottom = arr[s + st[va] : s + st[va] + n]
                np.subtract(bottom, top, out=g)
                np.multiply(g, fv, out=g)
                np.add(g, top, out=g)  # top + fv*(bottom - top)
                val = g
            np.greater_equal(val, centre, out=ge)
            if p == 0:
                np.copyto(code, ge, casting="unsafe")
            elif dt is np.uint8:
                np.left_shift(ge.view(np.uint8), np.uint8(p), out=bits)
                np.bitwise_or(code, bits, out=code)
            else:
                np.copyto(bits, ge, casting="unsafe")
                np.left_shift(bits, dt(p), out=bits)
                np.bitwise_or(code, bits, out=code)
        codes.append(code_full)
    return lay, codes


def _top_planes(Ps: tuple[int, int, int], radii: tuple[float, float, float]):
    return [
        (va, ha, P, radii[_AXIS_TO_RADIUS[va]], radii[_AXIS_TO_RADIUS[ha]])
        for (_, va, ha), P in zip(_PLANES, Ps)
    ]


def lbp_image(frame, P: int = 8, R: float = 1.0, mapping: str | None = "u2") -> np.ndarray:
    """Framewise XY LBP of a 2-D image.

    Returns the mapped codes of the valid interior, shape
    ``(H - 2*ceil(R), W - 2*ceil(R))``, as an int (``np.intp``) array.
    """
    F = np.asarray(frame)
    if F.ndim != 2:
        raise ValueError(f"frame must be 2-D, got an array of shape {F.shape}")
    return lbp_image_stack(F[None], P, R, mapping)[0]


def lbp_image_stack(frames, P: int = 8, R: float = 1.0, mapping: str | None = "u2") -> np.ndarray:
    """:func:`lbp_image` of every frame of a ``(T, H, W)`` stack in one vectorised pass.

    Returns ``(T, H - 2*ceil(R), W - 2*ceil(R))`` mapped codes as ``np.intp``; frame ``t``
    equals ``lbp_image(frames[t], P, R, mapping)`` exactly (the XY plane never reads across
    frames).
    """
    P = _check_P(P)
    mapping = _check_mapping(mapping)
    R = _check_radius(R, "R")
    F = _as_float_array(frames, 3, "frames")
    c = math.ceil(R)
    _, H, W = F.shape
    if H < 2 * c + 1 or W < 2 * c + 1:
        raise ValueError(
            f"frame of shape {(H, W)} too small for R={R}: need at least {2 * c + 1} x {2 * c + 1}"
        )
    if F.shape[0] == 0:
        return np.empty((0, H - 2 * c, W - 2 * c), dtype=np.intp)
    lay, (code,) = _flat_raw_codes(F, (0, c, c), [(1, 2, P, R, R)])
    lut, _ = _mapping_cached(P, mapping)
    return lut[lay.crop(code)]


def lbp_top_codes(
    volume,
    P: int | Sequence[int] = (8, 8, 8),
    radii: Sequence[float] = (1.0, 1.0, 1.0),
    mapping: str | None = "u2",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mapped LBP codes of the XY, XT and YT planes on the valid centre volume.

    Each array has shape ``(T - 2*ceil(Rt), H - 2*ceil(Ry), W - 2*ceil(Rx))`` and
    dtype ``np.intp``; ``radii`` is ``(Rx, Ry, Rt)``.
    """
    Ps = _parse_P(P)
    mapping = _check_mapping(mapping)
    radii = _parse_radii(radii)
    V = _as_float_array(volume, 3, "volume")
    m = _margins(V.shape, radii)
    lay, raw = _flat_raw_codes(V, m, _top_planes(Ps, radii))
    xy, xt, yt = (_mapping_cached(p, mapping)[0][lay.crop(c)] for p, c in zip(Ps, raw))
    return xy, xt, yt


# --------------------------------------------------------------------------- #
# Block histograms
# --------------------------------------------------------------------------- #
class _Cells:
    """Disjoint elementary cells of the valid volume and the block -> cell ranges.

    Along each axis the (clipped) edges of all blocks split the valid centres
    into disjoint intervals; their products are the cells.  Each centre lies in
    exactly one cell, so one ``bincount`` per plane gives all cell histograms,
    and a block histogram is the exact integer sum of the cells it covers,
    taken with prefix sums over the cells along t, y and x.  Padding positions
    of the flat layout go to an extra "dump" cell that is dropped.
    """

    def __init__(self, lay: _FlatLayout, grid: tuple[int, int], overlap: float, time_parts: int):
        T, H, W = lay.shape
        rows, cols = grid
        specs = (
            (T, time_parts, 0.0, lay.m[0], "time slab"),
            (H, rows, overlap, lay.m[1], "block row"),
            (W, cols, overlap, lay.m[2], "block column"),
        )
        cell_of = []  # per axis: cell index of each valid coordinate
        self.ranges = []  # per axis: (starts, ends) arrays of cell indices per block
        self.n_cells = []
        for n_valid, (n, parts, ov, margin, what) in zip(lay.valid_shape, specs):
            blocks = _valid_blocks(n, parts, ov, margin, what)
            edges = sorted({0, n_valid, *(b for blk in blocks for b in blk)})
            pos = {e: k for k, e in enumerate(edges)}
            cell = np.searchsorted(np.asarray(edges), np.arange(n_valid), side="right") - 1
            cell_of.append(cell.astype(np.intp))
            self.ranges.append(
                (np.array([pos[s] for s, _ in blocks]), np.array([pos[e] for _, e in blocks]))
            )
            self.n_cells.append(len(edges) - 1)
        nt, ny, nx = self.n_cells
        self.total = nt * ny * nx
        ct, cy, cx = cell_of
        Tv, Hv, Wv = lay.valid_shape
        cell_id = np.full((Tv, H, W), self.total, dtype=np.intp)  # padding -> dump cell
        cell_id[:, :Hv, :Wv] = (ct[:, None, None] * ny + cy[None, :, None]) * nx + cx[None, None, :]
        self.cell_id = cell_id.reshape(-1)
        self._scaled: dict[int, np.ndarray] = {}

    def scaled(self, k: int) -> np.ndarray:
        arr = self._scaled.get(k)
        if arr is None:
            arr = self.cell_id * k
            arr.setflags(write=False)
            self._scaled[k] = arr
        return arr

    def histograms(
        self, raw: Sequence[np.ndarray], Ps: Sequence[int], mapping: str | None, ws: _Workspace
    ) -> np.ndarray:
        """(time_parts, rows, cols, sum of n_bins) int64 block histograms, planes concatenated."""
        parts = []
        idx = ws.get("idx", raw[0].shape, np.intp)
        for P, codes in zip(Ps, raw):
            lut, n_bins = _mapping_cached(P, mapping)
            if mapping is None:
                np.add(self.scaled(n_bins), codes, out=idx, dtype=np.intp)
            else:
                lut.take(codes, out=idx, mode="clip")  # codes < 2**P always
                np.add(idx, self.scaled(n_bins), out=idx)
            counts = np.bincount(idx, minlength=(self.total + 1) * n_bins)[: self.total * n_bins]
            parts.append(counts.reshape(*self.n_cells, n_bins))
        counts = np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        for axis, (starts, ends) in enumerate(self.ranges):
            counts = _block_sums(counts, axis, starts, ends)
        return counts


def _block_sums(counts: np.ndarray, axis: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Sums of ``counts`` over the cell ranges [starts[b], ends[b]) along ``axis``.

    Exact int64 prefix sums; the loop runs over the few cells of one axis so
    that every addition is a vectorised pass over the other axes (numpy's
    cumsum along a non-last axis and BLAS products are both slower here).
    """
    c = np.moveaxis(counts, axis, 0)
    csum = np.zeros((c.shape[0] + 1,) + c.shape[1:], dtype=np.int64)
    for i in range(c.shape[0]):
        np.add(csum[i], c[i], out=csum[i + 1])
    return np.moveaxis(csum[ends] - csum[starts], 0, axis)


_CELLS_CACHE: "OrderedDict[tuple, _Cells]" = OrderedDict()
_CELLS_LOCK = threading.Lock()


def _get_cells(lay: _FlatLayout, grid: tuple[int, int], overlap: float, time_parts: int) -> _Cells:
    key = (lay.shape, lay.m, grid, overlap, time_parts)
    with _CELLS_LOCK:
        cells = _CELLS_CACHE.get(key)
        if cells is not None:
            _CELLS_CACHE.move_to_end(key)
            return cells
    cells = _Cells(lay, grid, overlap, time_parts)  # may raise ValueError (empty block)
    with _CELLS_LOCK:
        _CELLS_CACHE[key] = cells
        while len(_CELLS_CACHE) > 8:
            _CELLS_CACHE.popitem(last=False)
    return cells


def lbp_top(
    volume,
    P: int | Sequence[int] = (8, 8, 8),
    radii: Sequence[float] = (1.0, 1.0, 1.0),
    grid: Sequence[int] = (5, 5),
    overlap: float = 0.0,
    time_parts: int = 1,
    mapping: str | None = "u2",
    normalise: bool = True,
) -> np.ndarray:
    """LBP-TOP block histograms of a ``(T, H, W)`` volume as a float32 vector.

    ``P`` is an int or ``(P_xy, P_xt, P_yt)``; ``radii`` is ``(Rx, Ry, Rt)``;
    ``grid = (rows, cols)`` spatial blocks with fractional ``overlap``;
    ``time_parts`` non-overlapping temporal slabs.  Layout: slabs, block rows,
    block columns, then planes XY | XT | YT (see the module docstring).
    """
    Ps = _parse_P(P)
    mapping = _check_mapping(mapping)
    radii = _parse_radii(radii)
    rows, cols, overlap, time_parts = _parse_blocks(grid, overlap, time_parts)
    ws = _workspace()
    V = _as_float_array(volume, 3, "volume", ws)
    m = _margins(V.shape, radii)
    cells = _get_cells(_FlatLayout(V.shape, m), (rows, cols), overlap, time_parts)
    _, raw = _flat_raw_codes(V, m, _top_planes(Ps, radii), ws)
    counts = cells.histograms(raw, Ps, mapping, ws)
    if not normalise:
        return counts.astype(np.float32).reshape(-1)
    out = np.empty(counts.shape, dtype=np.float64)
    k0 = 0
    for P in Ps:
        k1 = k0 + _mapping_cached(P, mapping)[1]
        block = counts[..., k0:k1]
        np.divide(block, block.sum(axis=-1, keepdims=True), out=out[..., k0:k1])
        k0 = k1
    return out.astype(np.float32).reshape(-1)


# --------------------------------------------------------------------------- #
# Reference implementation (tests only)
# --------------------------------------------------------------------------- #
@lru_cache(maxsize=32)
def _ref_tables(P: int) -> tuple[list[int], list[int]]:
    """Sorted uniform codes and sorted rotation-invariant representatives (pure Python)."""
    uniform = []
    reps = set()
    for code in range(2**P):
        bits = [(code >> i) & 1 for i in range(P)]
        if sum(bits[i] != bits[(i + 1) % P] for i in range(P)) <= 2:
            uniform.append(code)
        rotations = []
        c = code
        for _ in range(P):
            rotations.append(c)
            c = (c >> 1) | ((c & 1) << (P - 1))
        reps.add(min(rotations))
    return uniform, sorted(reps)


def _ref_map(code: int, P: int, mapping: str | None) -> tuple[int, int]:
    """(bin, n_bins) of a raw code, straight from the definitions."""
    if mapping is None:
        return code, 2**P
    uniform, reps = _ref_tables(P)
    bits = [(code >> i) & 1 for i in range(P)]
    is_uniform = sum(bits[i] != bits[(i + 1) % P] for i in range(P)) <= 2
    if mapping == "u2":
        return (uniform.index(code) if is_uniform else len(uniform)), len(uniform) + 1
    if mapping == "riu2":
        return (sum(bits) if is_uniform else P + 1), P + 2
    rotations = []
    c = code
    for _ in range(P):
        rotations.append(c)
        c = (c >> 1) | ((c & 1) << (P - 1))
    return reps.index(min(rotations)), len(reps)


def lbp_top_reference(
    volume,
    P: int | Sequence[int] = (8, 8, 8),
    radii: Sequence[float] = (1.0, 1.0, 1.0),
    grid: Sequence[int] = (5, 5),
    overlap: float = 0.0,
    time_parts: int = 1,
    mapping: str | None = "u2",
    normalise: bool = True,
) -> np.ndarray:
    """Per-pixel pure-Python LBP-TOP with the same definitions as :func:`lbp_top`.

    Slow; only meant to validate :func:`lbp_top` in tests.
    """
    Ps = _parse_P(P)
    mapping = _check_mapping(mapping)
    rx, ry, rt = _parse_radii(radii)
    rows, cols, overlap, time_parts = _parse_blocks(grid, overlap, time_parts)
    arr = _as_float_array(volume, 3, "volume")
    T, H, W = arr.shape
    mt, my, mx = _margins(arr.shape, (rx, ry, rt))
    vol = arr.tolist()  # vol[t][y][x] as Python floats

    def value(t: int, y: int, x: int, plane: str, iv: int, fv: float, ih: int, fh: float) -> float:
        def at(dv: int, dh: int) -> float:
            if plane == "XY":
                return vol[t][y + iv + dv][x + ih + dh]
            if plane == "XT":
                return vol[t + iv + dv][y][x + ih + dh]
            return vol[t + iv + dv][y + ih + dh][x]  # YT

        a = at(0, 0)
        top = a if fh == 0.0 else a + fh * (at(0, 1) - a)
        if fv == 0.0:
            return top
        b = at(1, 0)
        bottom = b if fh == 0.0 else b + fh * (at(1, 1) - b)
        return top + fv * (bottom - top)

    plane_radii = {"XY": (ry, rx), "XT": (rt, rx), "YT": (rt, ry)}  # (vertical, horizontal)
    bins: dict[str, dict[tuple[int, int, int], int]] = {}
    n_bins: dict[str, int] = {}
    for (name, _, _), p_count in zip(_PLANES, Ps):
        offsets = _sample_offsets(p_count, *plane_radii[name])
        table = {}
        for t in range(mt, T - mt):
            for y in range(my, H - my):
                for x in range(mx, W - mx):
                    centre = vol[t][y][x]
                    code = 0
                    for p, (iv, fv, ih, fh) in enumerate(offsets):
                        if value(t, y, x, name, iv, fv, ih, fh) >= centre:
                            code += 1 << p
                    table[(t, y, x)], n_bins[name] = _ref_map(code, p_count, mapping)
        bins[name] = table

    def blocks(n: int, parts: int, ov: float, margin: int, what: str) -> list[tuple[int, int]]:
        size = n / (1 + (parts - 1) * (1 - ov))
        step = size * (1 - ov)
        out = []
        for i in range(parts):
            s = max(min(round(i * step), n), margin)
            e = min(max(round(i * step + size), 0), n - margin)
            if e <= s:
                raise ValueError(f"{what} {i} contains no valid centre")
            out.append((s, e))
        return out

    t_blocks = blocks(T, time_parts, 0.0, mt, "time slab")
    y_blocks = blocks(H, rows, overlap, my, "block row")
    x_blocks = blocks(W, cols, overlap, mx, "block column")
    vec: list[float] = []
    for t0, t1 in t_blocks:
        for y0, y1 in y_blocks:
            for x0, x1 in x_blocks:
                for name, _, _ in _PLANES:
                    hist = [0] * n_bins[name]
                    for t in range(t0, t1):
                        for y in range(y0, y1):
                            for x in range(x0, x1):
                                hist[bins[name][(t, y, x)]] += 1
                    if normalise:
                        total = sum(hist)
                        vec.extend(c / total for c in hist)
                    else:
                        vec.extend(float(c) for c in hist)
    return np.array(vec, dtype=np.float32)
