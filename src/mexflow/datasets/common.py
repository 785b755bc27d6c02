"""Validation every corpus adapter shares, and the builder that turns clips into index rows.

An adapter reads its corpus' layout into `ClipSource`s (raw cells, clip folder) and hands them to
an `IndexBuilder`, which applies the same checks to all corpora, in this order: duplicate rows
(identical ones collapse into one, conflicting ones reject the clip), frame cells, onset/offset
present, onset <= offset, apex (missing-apex policy), apex within onset..offset, onset = apex
policy, label, action units, objective class, clip folder and frame naming, frames of
onset..offset on disk. A failed check is one rejection (or CorpusError).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mexflow.datasets.columns import ADAPTER_COLUMNS, REJECTED_COLUMNS
from mexflow.datasets.errors import BadClip, Rejections
from mexflow.datasets.frame_files import FrameNaming, count_dropped_frames, discover_frame_naming
from mexflow.datasets.labels import map_label, objective_class
from mexflow.datasets.sheets import cell_text, is_blank
from mexflow.synthetic.action_units import AUCode, parse_au_string

log = logging.getLogger(__name__)

MISSING_APEX_POLICIES = ("midpoint", "bad_clip")
ONSET_APEX_POLICIES = ("keep", "midpoint", "bad_clip")


def frame_cell(value) -> int | None:
    """A frame-number cell -> int, or None for a missing frame (blank, '/', '-', -1).

    Raises ValueError for text that is not a number, a non-integer or a negative number other
    than -1 (SAMM's code for "no apex").
    """
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"frame number {value!r} is not an integer")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        if text in ("/", "-"):
            return None
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"frame number {value!r} is not an integer") from None
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"frame number {value!r} is not an integer")
    if int(number) == -1:
        return None
    if number < 0:
        raise ValueError(f"frame number {value!r} is negative")
    return int(number)


@dataclass(frozen=True)
class Timing:
    """Onset, apex and offset frame numbers of a clip, and where the apex came from."""

    onset: int
    apex: int
    offset: int
    apex_source: str   # annotated | midpoint | onset_equals_apex


def resolve_timing(onset_cell, apex_cell, offset_cell, *, missing_apex: str = "midpoint",
                   onset_apex_equal: str | None = None) -> Timing:
    """Onset/apex/offset cells -> Timing, or BadClip naming the defect.

    missing_apex: 'midpoint' sets a missing apex to (onset + offset) // 2 (apex_source
    'midpoint'); 'bad_clip' rejects the clip. onset_apex_equal (None: no special case) decides an
    annotated apex equal to the onset: 'keep' (apex_source 'onset_equals_apex'), 'midpoint', or
    'bad_clip'.
    """
    try:
        onset, apex, offset = (frame_cell(c) for c in (onset_cell, apex_cell, offset_cell))
    except ValueError as exc:
        raise BadClip(None, str(exc)) from None
    if onset is None or offset is None:
        raise BadClip(None, "onset or offset frame is missing")
    if onset > offset:
        raise BadClip(None, f"onset {onset} is after offset {offset}")
    midpoint = (onset + offset) // 2
    if apex is None:
        if missing_apex != "midpoint":
            raise BadClip(None, f"apex is {apex_cell!r}")
        return Timing(onset, midpoint, offset, "midpoint")
    if not onset <= apex <= offset:
        raise BadClip(None, f"apex {apex} outside onset..offset {onset}..{offset}")
    if apex == onset and onset_apex_equal is not None:
        if onset_apex_equal == "bad_clip":
            raise BadClip(None, f"apex equals onset ({onset})")
        if onset_apex_equal == "midpoint":
            return Timing(onset, midpoint, offset, "midpoint")
        return Timing(onset, apex, offset, "onset_equals_apex")
    return Timing(onset, apex, offset, "annotated")


def resolve_labels(label_format: str, raw) -> tuple[str | None, str | None]:
    """(class5, class3) of a raw label; BadClip 'unknown label ...' when the vocabulary lacks it."""
    try:
        return map_label(label_format, raw)
    except KeyError as exc:
        shown = cell_text(raw) if not is_blank(raw) else raw
        raise BadClip(None, f"unknown label {shown!r} ({exc.args[0]})") from None


def resolve_aus(cell) -> list[AUCode]:
    """Action-unit cell ('4+7', 'L12(k)+R14', 12, blank) -> AU codes; BadClip if unreadable."""
    try:
        return parse_au_string(cell_text(cell))
    except ValueError as exc:
        raise BadClip(None, str(exc)) from None


@dataclass(frozen=True)
class ClipSource:
    """One clip as its corpus describes it, cells still raw.

    subject: corpus subject id as used in folder names ('sub01', '006', 's3');
    clip: clip name, unique within the subject; where: the annotation's location
    ('<file> row <n>', or the clip folder when there is no sheet); clip_dir: folder of its frames.
    span_from_frames: onset/offset are the first/last frame on disk and the apex their midpoint
    (SMIC, which annotates no timing); the onset/apex/offset cells are then ignored.
    """

    subject: str
    clip: str
    where: str
    clip_dir: Path
    onset: object = None
    apex: object = None
    offset: object = None
    emotion: object = None
    aus: object = None
    objective: object = None
    span_from_frames: bool = False


# The ClipSource fields two annotation rows of one clip are compared on.
ANNOTATION_FIELDS = ("onset", "apex", "offset", "emotion", "aus", "objective", "clip_dir",
                     "span_from_frames")


def _comparable(field: str, value) -> str:
    """A cell as compared between duplicate rows: blank -> '', 6 == 6.0 == ' 6 ', inner
    whitespace collapsed; folders by path."""
    if field == "clip_dir":
        return str(Path(value)) if value is not None else ""
    return " ".join(cell_text(value).split())


def duplicate_conflicts(sources: list[ClipSource]) -> list[str]:
    """The ANNOTATION_FIELDS in which the given rows of one clip differ ([] if identical)."""
    return [f for f in ANNOTATION_FIELDS
            if len({_comparable(f, getattr(s, f)) for s in sources}) > 1]


class IndexBuilder:
    """Validates ClipSources of one corpus into canonical index rows and rejections.

    label_format: vocabulary in labels.yaml; fps: frames per second of every clip;
    on_bad_clip: 'error' (CorpusError at the first bad clip) or 'reject';
    missing_apex, onset_apex_equal: see resolve_timing; max_dropped_frames: frames strictly
    inside onset..offset that may be missing on disk (recorded in dropped_frames).

    Clips are validated in `result()`, once every row is known, so that several annotation rows
    of one clip are judged together: identical rows collapse into one (logged), rows that differ
    (timing, label, AUs, ...) reject the clip with one rejection naming every row, and the clip
    is not indexed.
    """

    def __init__(self, dataset: str, *, label_format: str, fps: float, on_bad_clip: str = "error",
                 missing_apex: str = "midpoint", onset_apex_equal: str | None = None,
                 max_dropped_frames: int = 0):
        if missing_apex not in MISSING_APEX_POLICIES:
            raise ValueError(f"missing_apex must be one of {MISSING_APEX_POLICIES}, got {missing_apex!r}")
        if onset_apex_equal is not None and onset_apex_equal not in ONSET_APEX_POLICIES:
            raise ValueError(f"onset_apex_equal must be one of {ONSET_APEX_POLICIES}, "
                             f"got {onset_apex_equal!r}")
        if isinstance(max_dropped_frames, bool) or not isinstance(max_dropped_frames, int) \
                or max_dropped_frames < 0:
            raise ValueError(f"max_dropped_frames must be an integer >= 0, got {max_dropped_frames!r}")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
            raise ValueError(f"fps must be a number > 0, got {fps!r}")
        self.dataset, self.label_format, self.fps = dataset, label_format, float(fps)
        self.missing_apex, self.onset_apex_equal = missing_apex, onset_apex_equal
        self.max_dropped_frames = max_dropped_frames
        self.rejections = Rejections(dataset, on_bad_clip)
        self._rows: list[dict] = []
        self._pending: dict[object, list[ClipSource]] = {}  # clip -> its rows, in sheet order
        self._namings: dict[Path, FrameNaming | BadClip] = {}

    def clip_id(self, source: ClipSource) -> str:
        return f"{self.dataset}/{source.subject}/{source.clip}"

    def add(self, source: ClipSource) -> None:
        """Queue one clip's annotation row; `result()` validates it."""
        clip_id = self.clip_id(source)
        # Rows without a subject or clip name are no duplicates of one another: each is rejected.
        key = clip_id if source.subject and source.clip else (clip_id, len(self._pending))
        self._pending.setdefault(key, []).append(source)

    def _validate_pending(self) -> None:
        """Validate queued clips: append index rows, or reject (CorpusError under 'error')."""
        pending, self._pending = self._pending, {}
        for sources in pending.values():
            source = sources[0]
            clip_id = self.clip_id(source)
            if len(sources) > 1:
                wheres = "; ".join(s.where for s in sources)
                differ = duplicate_conflicts(sources)
                if differ:
                    self.rejections.bad(clip_id, source.where,
                                        f"conflicting duplicate annotation rows ({wheres}) differ "
                                        f"in {', '.join(differ)}")
                    continue
                log.info("%s: %d identical annotation rows (%s), kept as one", clip_id,
                         len(sources), wheres)
            try:
                self._rows.append(self._row(source, clip_id))
            except BadClip as exc:
                self.rejections.bad(clip_id, exc.file or source.where, exc.reason)

    def result(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(index rows with ADAPTER_COLUMNS, rejected rows with REJECTED_COLUMNS first)."""
        self._validate_pending()
        rejected = pd.DataFrame(self.rejections.rows)
        rejected = rejected.reindex(columns=list(dict.fromkeys(REJECTED_COLUMNS + list(rejected.columns))))
        return pd.DataFrame(self._rows, columns=ADAPTER_COLUMNS), rejected

    def naming(self, clip_dir: Path) -> FrameNaming:
        """Frame naming of a folder, scanned once per folder (CAS(ME)^3 rows share recordings)."""
        key = Path(clip_dir)
        if key not in self._namings:
            try:
                self._namings[key] = discover_frame_naming(key)
            except BadClip as exc:
                self._namings[key] = exc
        found = self._namings[key]
        if isinstance(found, BadClip):
            raise BadClip(found.file, found.reason)
        return found

    def _row(self, source: ClipSource, clip_id: str) -> dict:
        if not source.subject or not source.clip:
            raise BadClip(None, "subject or clip name cell is empty")
        if source.span_from_frames:
            frames = self.naming(source.clip_dir).frames
            timing = Timing(frames[0], (frames[0] + frames[-1]) // 2, frames[-1], "midpoint")
        else:
            timing = resolve_timing(source.onset, source.apex, source.offset,
                                    missing_apex=self.missing_apex,
                                    onset_apex_equal=self.onset_apex_equal)
        class5, class3 = resolve_labels(self.label_format, source.emotion)
        codes = resolve_aus(source.aus)
        try:
            objective = objective_class(source.objective)
        except ValueError as exc:
            raise BadClip(None, str(exc)) from None
        naming = self.naming(source.clip_dir)
        dropped = count_dropped_frames(naming, source.clip_dir, timing.onset, timing.apex,
                                       timing.offset, self.max_dropped_frames)
        return {
            "dataset": self.dataset, "subject": f"{self.dataset}/{source.subject}",
            "clip": source.clip, "clip_id": clip_id,
            "frame_dir": str(Path(source.clip_dir).resolve()), "frame_pattern": naming.pattern,
            "frames": list(naming.frames), "onset": timing.onset, "apex": timing.apex,
            "offset": timing.offset, "apex_source": timing.apex_source, "fps": self.fps,
            "emotion": cell_text(source.emotion), "class5": class5, "class3": class3,
            "aus": [c.au for c in codes], "au_codes": [str(c) for c in codes],
            "objective": objective, "dropped_frames": dropped,
        }
