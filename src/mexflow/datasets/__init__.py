"""Corpus adapters: each reads a corpus' own layout and annotation file into the canonical
clip index (one row per clip, columns in `mexflow.datasets.index.INDEX_COLUMNS`)."""
