"""Column names of the canonical clip index and of the rejected-clip table (DESIGN §3)."""
from __future__ import annotations

# frame_dir: the clip folder relative to the corpus root (adapters return it absolute; build_index
# makes it relative). frames: frame numbers on disk in frame_dir (sorted); frame_pattern.format(n)
# is frame n's file name; objective: SAMM objective class "I".."VII" (None elsewhere); dropped_frames: frames of
# onset..offset missing on disk that the corpus' tolerance allowed (0 normally).
INDEX_COLUMNS = ["dataset", "subject", "clip", "clip_id", "frame_dir", "frame_pattern", "frames",
                 "onset", "apex", "offset", "apex_source", "fps", "emotion", "class5", "class3",
                 "aus", "au_codes", "objective", "dropped_frames", "shard"]
# What an adapter returns: every index column but the shard, which build_index assigns.
ADAPTER_COLUMNS = INDEX_COLUMNS[:-1]
REJECTED_COLUMNS = ["dataset", "clip_id", "file", "reason"]
