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
    from mexflow.align.clip import AlignParams, align_frames, read_frame_bgr
    from mexflow.synthetic.corpus import truth_path
    from mexflow.synthetic.ground_truth import load_clip_truth
    from mexflow.synthetic.layouts import get_layout

    root, truth = small_corpus
    out = []
    for _, r in truth.iterrows():
        gt = load_clip_truth(truth_path(root, r["subject"], r["clip"]))
        layout = get_layout(r["layout"])

        def read(n, subject=r["subject"], clip=r["clip"]):
            return read_frame_bgr(layout.frame_path(root, subject, clip, n))

        frames = list(range(gt.onset, gt.offset + 1))
        out.append((gt, align_frames(read, frames, gt.onset, detector, AlignParams(crop_size=224))))
    return out
