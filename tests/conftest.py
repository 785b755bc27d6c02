"""Shared fixtures: a small synthetic corpus generated once per test session."""
from __future__ import annotations

import pytest

from mexflow.synthetic.corpus import SyntheticConfig, write_synthetic_corpus

SMALL = SyntheticConfig(seed=11, subjects=3, clips_per_subject=2, rise_frames=(6, 9),
                        fall_frames=(6, 9), pad_frames=(1, 3))


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """(root, truth table) of a 3-subject x 2-clip corpus in the CASME II layout."""
    root = tmp_path_factory.mktemp("corpus") / "casme2_synthetic"
    truth = write_synthetic_corpus(root, SMALL, workers=2)
    return root, truth


@pytest.fixture(scope="session")
def detector():
    from mexflow.align.mtcnn import MTCNN

    return MTCNN()


@pytest.fixture(scope="session")
def aligned_small_corpus(small_corpus, detector):
    """Per clip of small_corpus: (ClipTruth, AlignedClip of onset..offset at 224 px, reference =
    onset, MTCNN + translation-only template matching)."""
    from mexflow.synthetic.checks import aligned_truth_clips

    root, truth = small_corpus
    return aligned_truth_clips(root, truth, detector)
