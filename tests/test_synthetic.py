"""The synthetic corpus: AU fields, timing, layout, determinism and image formation vs truth."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from mexflow.features.flow import farneback
from mexflow.synthetic.action_units import AUCode, au_field, expression_field, parse_au_string
from mexflow.synthetic.corpus import (CASME2_COLUMNS, CODING_FILE, FRAMES_SUBDIR, GT_SUBDIR,
                                      SyntheticConfig, plan_subject, temporal_profile)
from mexflow.synthetic.faces import load_base_face, render_scene, sample_identity
from mexflow.synthetic.ground_truth import load_clip_truth
from mexflow.synthetic.render import render_frame

REQUIRED_AUS = [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17]


@pytest.fixture(scope="module")
def scene():
    return render_scene(sample_identity(np.random.default_rng(0), 1))


def test_every_required_au_has_a_field_moving_the_right_way(scene):
    lm, iod, hw = scene.landmarks, scene.iod, scene.alpha.shape
    fields = {au: au_field(AUCode(au), lm, iod, hw) for au in REQUIRED_AUS}
    for au, f in fields.items():
        assert np.abs(f).max() > 0.3, f"AU{au} has no motion"

    def at(au, idx):
        x, y = np.round(lm[idx]).astype(int)
        return fields[au][y, x]

    # y grows downwards; subject's right (landmark 61, 107) is image left.
    assert at(1, 107)[1] < 0 and at(1, 336)[1] < 0          # inner brows up
    assert at(2, 70)[1] < 0 and at(2, 300)[1] < 0           # outer brows up
    assert at(4, 107)[1] > 0 and at(4, 107)[0] > 0 and at(4, 336)[0] < 0  # down and together
    assert at(5, 159)[1] < 0                                # upper lid up
    assert at(12, 61)[0] < 0 and at(12, 61)[1] < 0          # corner out and up
    assert at(12, 291)[0] > 0 and at(12, 291)[1] < 0
    assert at(14, 61)[0] > 0 and at(14, 291)[0] < 0         # corners inwards
    assert at(15, 61)[1] > 0                                # corners down
    assert at(17, 199)[1] < 0                               # chin up


def test_lateral_au_moves_one_side_only(scene):
    lm, iod, hw = scene.landmarks, scene.iod, scene.alpha.shape
    f = au_field(AUCode(12, "R"), lm, iod, hw)
    mag = np.hypot(f[..., 0], f[..., 1])
    xr, yr = np.round(lm[61]).astype(int)
    xl, yl = np.round(lm[291]).astype(int)
    assert mag[yr, xr] > 0.5 and mag[yl, xl] < 1e-3


def test_expression_peak_equals_requested_amplitude(scene):
    f = expression_field([AUCode(6), AUCode(12)], [0.7, 1.0], scene.landmarks, scene.iod,
                         scene.alpha.shape, peak_px=0.8)
    assert np.hypot(f[..., 0], f[..., 1]).max() == pytest.approx(0.8, rel=1e-5)


def test_parse_au_strings_keeps_laterality_and_marks():
    codes = parse_au_string("1+2+R12+L4+12(k)")
    assert [c.au for c in codes] == [1, 2, 12, 4, 12]
    assert [c.side for c in codes] == ["", "", "R", "L", ""]
    assert codes[4].mark == "k" and str(codes[2]) == "R12"
    assert parse_au_string("/") == []
    with pytest.raises(ValueError, match="unreadable"):
        parse_au_string("4+x7")


def test_temporal_profile_shape():
    frames = np.arange(10, 41)
    a = temporal_profile(frames, onset=15, apex=25, offset=35)
    assert a[frames <= 15].max() == 0 and a[frames >= 35].max() == 0
    assert a[frames == 25][0] == 1.0 and np.all(np.diff(a[(frames >= 15) & (frames <= 25)]) > 0)


def test_plans_are_deterministic_and_in_range():
    cfg = SyntheticConfig(seed=5, subjects=4, clips_per_subject=10)
    a = [plan_subject(cfg, s) for s in range(1, 5)]
    b = [plan_subject(cfg, s) for s in range(1, 5)]
    assert a == b
    plans = [p for ps in a for p in ps]
    assert all(0.2 <= p.peak_px <= 1.5 for p in plans)
    assert all(p.first_frame < p.onset < p.apex < p.offset < p.last_frame for p in plans)
    # balanced sampling: every class appears twice per subject with 10 clips
    for ps in a:
        assert pd.Series([p.emotion for p in ps]).value_counts().eq(2).all()
    other = [plan_subject(SyntheticConfig(seed=6, subjects=4, clips_per_subject=10), 1)]
    assert other[0] != a[0]


def test_corpus_layout_and_truth(small_corpus):
    root, truth = small_corpus
    sheet = pd.read_excel(root / CODING_FILE, dtype=object)
    # CASME II's column names, with the blank unnamed column read back by pandas
    assert [c for c in sheet.columns if not str(c).startswith("Unnamed")] == [c for c in CASME2_COLUMNS if c]
    assert len(sheet) == len(truth) == 6
    for _, r in truth.iterrows():
        clip_dir = root / FRAMES_SUBDIR / r["subject"] / r["clip"]
        files = sorted(int(p.stem[3:]) for p in clip_dir.glob("img*.jpg"))
        assert files == list(range(r["first_frame"], r["last_frame"] + 1))
        img = cv2.imread(str(clip_dir / f"img{r['onset']}.jpg"))
        assert img.shape == (480, 640, 3)
        gt = load_clip_truth(root / GT_SUBDIR / r["subject"] / f"{r['clip']}.npz")
        assert gt.fps == 200.0 and gt.apex_field.shape == (480, 640, 2)
        assert gt.amplitude[gt.index_of(gt.apex)] == 1.0
        assert np.hypot(*np.moveaxis(gt.displacement(gt.apex), -1, 0)).max() == pytest.approx(gt.peak_px, rel=1e-5)
        assert np.abs(gt.jitter[:, :2]).max() <= 3.0 and np.abs(gt.jitter[:, 2]).max() <= 0.3
        assert gt.landmarks.shape == (478, 2)


def test_rendered_motion_matches_ground_truth(scene):
    """Image formation: flow measured between the neutral and the apex render (no jitter, no
    noise) equals the ground-truth apex field inside the face. Tolerance: mean end-point error
    < 0.12 px where the true motion exceeds 0.3 px, and < 25 % of the mean true magnitude."""
    field = expression_field([AUCode(12), AUCode(6)], [1.0, 0.8], scene.landmarks, scene.iod,
                             scene.alpha.shape, peak_px=1.2)
    rng = np.random.default_rng(0)
    zero = np.zeros(3, np.float32)
    c = tuple(scene.landmarks[1])
    a = render_frame(scene, field, 0.0, zero, c, 1.0, 0.0, rng)
    b = render_frame(scene, field, 1.0, zero, c, 1.0, 0.0, rng)
    flow = farneback(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY),
                     {"winsize": 11, "levels": 2})
    mag = np.hypot(field[..., 0], field[..., 1])
    moving = (mag > 0.3) & (scene.alpha > 0.99)
    epe = np.hypot(*(flow - field)[moving].T)
    assert moving.sum() > 500
    assert epe.mean() < 0.12 and epe.mean() < 0.25 * mag[moving].mean()


def test_base_face_is_found_by_mediapipe():
    base = load_base_face()
    assert base.image.shape == (512, 512, 3) and base.landmarks.shape == (478, 2)
    # eyes above the nose tip, mouth below it
    assert base.landmarks[159, 1] < base.landmarks[1, 1] < base.landmarks[13, 1]
