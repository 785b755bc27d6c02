"""Alignment and flow on aligned crops, checked against the synthetic ground truth."""
from __future__ import annotations

import numpy as np
import pytest

from mexflow.align.clip import AlignParams, align_frames, read_frame_bgr
from mexflow.align.template import CropBox, crop_resize
from mexflow.features.flow import farneback, optical_strain, to_gray
from mexflow.synthetic.corpus import FRAMES_SUBDIR, GT_SUBDIR
from mexflow.synthetic.ground_truth import displacement_in_crop, load_clip_truth, track_head_point


@pytest.fixture(scope="module")
def aligned(small_corpus, detector):
    root, truth = small_corpus
    out = []
    for _, r in truth.iterrows():
        gt = load_clip_truth(root / GT_SUBDIR / r["subject"] / f"{r['clip']}.npz")
        folder = root / FRAMES_SUBDIR / r["subject"] / r["clip"]
        frames = list(range(gt.onset, gt.offset + 1))
        a = align_frames(lambda n: read_frame_bgr(folder / f"img{n}.jpg"), frames, gt.onset, detector,
                         AlignParams(crop_size=224))
        out.append((gt, a))
    return out


def test_residual_head_jitter_after_template_matching(aligned):
    """Estimated shift of the crop centre vs the true rigid head motion. Tolerance: mean
    residual < 0.25 px over all frames (the issue's aim is < 0.5 px), max < 0.6 px."""
    residuals, motions = [], []
    for gt, a in aligned:
        centre = a.box[:2]
        for fno, shift in zip(a.frame_numbers, a.shifts):
            true = track_head_point(gt, centre, gt.onset, int(fno)) - centre
            residuals.append(np.linalg.norm(shift - true))
            motions.append(np.linalg.norm(true))
    residuals = np.array(residuals)
    assert np.max(motions) > 0.5, "fixture should contain real head motion"
    assert residuals.mean() < 0.25 and residuals.max() < 0.6


def test_apex_flow_matches_ground_truth_inside_the_face(aligned):
    """Farnebäck onset->apex flow on aligned crops vs the true displacement mapped into the
    crop. Inside the face where the true motion is > 0.25 crop px, mean end-point error must be
    below 0.35 px and below 60 % of the error of predicting zero motion."""
    errs, zero_errs = [], []
    for gt, a in aligned:
        i0, i1 = gt.onset - a.frame_numbers[0], gt.apex - a.frame_numbers[0]
        g = to_gray(a.frames[[i0, i1]])
        flow = farneback(g[0], g[1])
        true = displacement_in_crop(gt, a.box, a.frames.shape[1], gt.onset, gt.apex)
        mag = np.hypot(true[..., 0], true[..., 1])
        moving = mag > 0.25
        if moving.sum() < 50:
            continue
        errs.append(np.hypot(*(flow - true)[moving].T).mean())
        zero_errs.append(mag[moving].mean())
    assert len(errs) >= 4
    errs, zero_errs = np.array(errs), np.array(zero_errs)
    assert errs.mean() < 0.35 and (errs < 0.6 * zero_errs).all(), (errs, zero_errs)


def test_strain_of_a_known_affine_field():
    """u = a x + b y, v = c x + d y -> |eps| = sqrt(a^2 + d^2 + (b + c)^2 / 2) everywhere."""
    a, b, c, d = 0.02, -0.01, 0.03, -0.015
    y, x = np.mgrid[0:40, 0:50].astype(np.float64)
    flow = np.stack([a * x + b * y, c * x + d * y], -1).astype(np.float32)
    expected = np.sqrt(a**2 + d**2 + 0.5 * (b + c) ** 2)
    np.testing.assert_allclose(optical_strain(flow), expected, rtol=1e-4)
    # a pure rotation has no strain
    th = 0.01
    rot = np.stack([(np.cos(th) - 1) * x - np.sin(th) * y, np.sin(th) * x + (np.cos(th) - 1) * y], -1)
    assert optical_strain(rot).max() < 1e-4


def test_crop_resize_is_subpixel_exact_on_a_ramp():
    """Cropping a linear ramp at a fractional shift reproduces the ramp's value at the mapped
    pixel centres (bilinear is exact on linear images; the pre-blur keeps ramps unchanged).
    Tolerance: OpenCV's warpAffine snaps sample positions to a 1/32-pixel grid, i.e. at most
    1/64 px here, worth (0.5 + 0.25) / 64 ~ 0.012 grey levels on this ramp."""
    y, x = np.mgrid[0:200, 0:300].astype(np.float32)
    img = 0.5 * x + 0.25 * y
    box = CropBox(150.0, 100.0, 80.0)
    out = crop_resize(img, box, 0.3, -0.7, 40)
    k = 40 / 80
    u = (np.arange(40) + 0.5) / k - 0.5
    ex = 0.5 * (150 + 0.3 - 40 + u)[None, :] + 0.25 * (100 - 0.7 - 40 + u)[:, None]
    np.testing.assert_allclose(out[2:-2, 2:-2], ex[2:-2, 2:-2], rtol=0, atol=0.012)
