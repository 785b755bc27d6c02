"""Alignment options: MediaPipe vs MTCNN detection, translation vs similarity transforms,
checked against the synthetic ground truth (residual rigid head motion per frame)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mexflow.align.clip import AlignParams, align_frames, detect_reference_face, read_frame_bgr
from mexflow.align.geometry import (apply_affine, compose_affine, invert_affine, rotation_scale,
                                    similarity_from_points, translation_affines)
from mexflow.align.mediapipe_detector import MediaPipeFaceDetector
from mexflow.align.pipeline import make_detector
from mexflow.align.template import CropBox, crop_resize, warp_crop
from mexflow.landmarks import eye_centres
from mexflow.synthetic.checks import alignment_residuals, face_points
from mexflow.synthetic.corpus import SyntheticConfig, truth_path, write_synthetic_corpus
from mexflow.synthetic.ground_truth import head_pose, load_clip_truth, track_head_points
from mexflow.synthetic.layouts import get_layout

SWAY_DEG = 2.0
TINY = dict(seed=5, subjects=2, clips_per_subject=2, rise_frames=(6, 9), fall_frames=(6, 9),
            pad_frames=(1, 3), max_translation_px=3.0)


def _write(root, cfg):
    return write_synthetic_corpus(root, cfg, workers=2)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """{"rotating": (root, truth), "still": (root, truth)}: the same 2 x 2 clips with a +-2 deg
    rotation sway, and with no rotation at all (max_rotation_deg=0)."""
    base = tmp_path_factory.mktemp("align_options")
    # The corpus' own roll is a 0.01 deg/frame walk (< 0.1 deg within a clip), too little to
    # tell the transforms apart; rotation_sway_deg adds a +-2 deg roll over each clip.
    rot = SyntheticConfig(max_rotation_deg=SWAY_DEG, rotation_sway_deg=SWAY_DEG, **TINY)
    still = SyntheticConfig(max_rotation_deg=0.0, **TINY)
    return {"rotating": (base / "rotating", _write(base / "rotating", rot)),
            "still": (base / "still", _write(base / "still", still))}


@pytest.fixture(scope="module")
def mediapipe_detector():
    with MediaPipeFaceDetector() as det:
        yield det


def _clips(root, truth):
    layout = get_layout("casme2")
    for _, r in truth.iterrows():
        gt = load_clip_truth(truth_path(root, r["subject"], r["clip"]))
        yield gt, (lambda n, s=r["subject"], c=r["clip"]: read_frame_bgr(layout.frame_path(root, s, c, n)))


def _residuals(corpus, detector, transform):
    """All clips aligned onset..offset against the onset; (residuals of every non-reference
    frame (M,) source px, aligned clips)."""
    out, clips = [], []
    for gt, read in _clips(*corpus):
        frames = list(range(gt.onset, gt.offset + 1))
        a = align_frames(read, frames, gt.onset, detector, AlignParams(transform=transform))
        out.append(alignment_residuals(gt, a.frame_numbers, a.transforms, gt.onset)[1:])
        clips.append((gt, read, a))
    return np.concatenate(out), clips


@pytest.fixture(scope="module")
def results(corpora, detector, mediapipe_detector):
    """{(corpus, detector, transform): (residuals, aligned clips)}."""
    dets = {"mtcnn": detector, "mediapipe": mediapipe_detector}
    res = {}
    for name in ("mtcnn", "mediapipe"):
        for transform in ("translation", "similarity"):
            res["rotating", name, transform] = _residuals(corpora["rotating"], dets[name], transform)
    for name in ("mtcnn", "mediapipe"):
        for transform in ("translation", "similarity"):
            res["still", name, transform] = _residuals(corpora["still"], dets[name], transform)
    return res


# ---- geometry ------------------------------------------------------------------------------


def test_similarity_from_two_points_is_exact():
    th, s, t = np.deg2rad(3.0), 1.02, np.array([4.5, -2.25])
    m = np.array([[s * np.cos(th), -s * np.sin(th), t[0]], [s * np.sin(th), s * np.cos(th), t[1]]])
    src = np.array([[100.0, 120.0], [190.0, 118.0]])
    est = similarity_from_points(src, apply_affine(m, src))
    np.testing.assert_allclose(est, m, atol=1e-12)
    angle, scale = rotation_scale(est)
    assert angle == pytest.approx(3.0, abs=1e-9) and scale == pytest.approx(1.02, abs=1e-12)
    np.testing.assert_allclose(compose_affine(invert_affine(m), m), np.eye(3)[:2], atol=1e-12)
    with pytest.raises(ValueError, match="distinct"):
        similarity_from_points(np.array([[1.0, 1.0], [1.0, 1.0]]), src)
    with pytest.raises(ValueError, match="singular"):
        invert_affine(np.zeros((2, 3)))


def test_warp_crop_with_a_shift_is_crop_resize():
    """A translation transform through warp_crop, or a two-point similarity that comes out as
    rotation 0 and scale 1, gives crop_resize's bytes (shrinking and not)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    box = CropBox(161.3, 118.7, 150.0)
    eyes = np.array([[120.2, 100.7], [201.9, 101.4]])
    for out_size in (64, 150, 200):
        want = crop_resize(img, box, 1.37, -2.61, out_size)
        shift = translation_affines(np.array([[1.37, -2.61]]))[0]
        assert np.array_equal(warp_crop(img, box, shift, out_size), want)
        sim = similarity_from_points(eyes + (1.37, -2.61), eyes)
        assert np.array_equal(warp_crop(img, box, sim, out_size), want)


def test_warp_crop_undoes_a_known_similarity():
    """frame(z) = g(S z) for a smooth image g and similarity S (frame -> reference): warping the
    frame by S must give the crop of g itself. Tolerance 0.25 grey levels (bilinear sampling of
    a pattern of 60 grey levels amplitude and >= 50 px wavelength, 1/32 px position snapping)."""
    def g(x, y):
        return 128 + 60 * np.sin(2 * np.pi * x / 70) * np.cos(2 * np.pi * y / 55)

    th = np.deg2rad(2.5)
    s_mat = np.array([[np.cos(th), -np.sin(th), 3.2], [np.sin(th), np.cos(th), -1.7]])
    y, x = np.mgrid[0:240, 0:320].astype(np.float64)
    ref = g(x, y).astype(np.float32)
    sx, sy = apply_affine(s_mat, np.stack([x, y], -1)).transpose(2, 0, 1)
    frame = g(sx, sy).astype(np.float32)
    box = CropBox(160.0, 120.0, 100.0)
    got = warp_crop(frame, box, s_mat, 100)
    want = crop_resize(ref, box, 0.0, 0.0, 100)
    assert np.abs(got - want).max() < 0.25


# ---- detectors -----------------------------------------------------------------------------


def test_mediapipe_detector_finds_the_face_and_eyes(corpora, detector, mediapipe_detector):
    """On reference frames, as alignment runs it (frame shrunk 3x): eye centres within 0.08
    inter-ocular distances of the true ones, subject's right eye on the image left; the crop of
    the calibrated box within 8 % of the MTCNN crop's side in size and 6 % in centre (measured
    over 60 reference frames of two other corpora: size -0.1..+1.6 % on average, at most 6 %;
    centre 2.5 % on average, at most 4.7 %, mostly MTCNN's own leftward bias)."""
    for gt, read in _clips(*corpora["still"]):
        rgb = cv2.cvtColor(read(gt.onset), cv2.COLOR_BGR2RGB)
        mp_face = detect_reference_face(mediapipe_detector, rgb, 3.0)
        mt_face = detect_reference_face(detector, rgb, 3.0)
        r, t = head_pose(gt, gt.onset)
        true_eyes = (np.array(eye_centres(gt.landmarks)) - gt.jitter_centre) @ r.T + gt.jitter_centre + t
        err = np.linalg.norm(mp_face.eyes - true_eyes, axis=1)
        assert err.max() < 0.08 * gt.iod, err
        assert mp_face.eyes[0, 0] < mp_face.eyes[1, 0]
        a, b = (CropBox.from_detection(f.box, 0.25, 0.04) for f in (mp_face, mt_face))
        assert abs(a.size / b.size - 1) < 0.08, (a, b)
        assert np.hypot(a.cx - b.cx, a.cy - b.cy) < 0.06 * b.size, (a, b)
    raw = mediapipe_detector.detect_largest(rgb)
    assert raw.raw_box[3] - raw.raw_box[1] < raw.box[3] - raw.box[1]  # calibration enlarges it


def test_detector_and_option_errors(mediapipe_detector):
    with pytest.raises(ValueError, match="uint8"):
        mediapipe_detector.detect_largest(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match="model_selection"):
        MediaPipeFaceDetector(model_selection=2)
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("dlib", AlignParams())
    with pytest.raises(ValueError, match="transform"):
        AlignParams(transform="affine")
    assert mediapipe_detector.detect_largest(np.full((120, 160, 3), 90, np.uint8)) is None
    det = make_detector("mediapipe", AlignParams(mediapipe_model=1))
    assert isinstance(det, MediaPipeFaceDetector) and det.model_selection == 1
    det.close()


# ---- the residual check itself ---------------------------------------------------------------


def test_residual_check_against_the_true_motion(corpora):
    """Exact inverse head motion as alignment -> zero residual; no alignment at all -> the true
    motion of the face points; the vectorised motion agrees with the per-point rigid motion
    z = R1 (R0^T (p - c - t0)) + c + t1."""
    gt, _ = next(_clips(*corpora["rotating"]))
    frames = gt.frames
    ref = gt.onset
    pts = face_points(gt, ref)
    c = gt.jitter_centre
    r0, t0 = head_pose(gt, ref)
    for f in (frames[0], gt.apex, frames[-1]):
        r1, t1 = head_pose(gt, f)
        np.testing.assert_allclose(track_head_points(gt, pts[:5], ref, f),
                                   [r1 @ (r0.T @ (p - c - t0)) + c + t1 for p in pts[:5]], atol=1e-9)
    exact = []
    for f in frames:
        # frame -> reference: the similarity taking two moved points back to where they were
        exact.append(similarity_from_points(track_head_points(gt, pts[:2], ref, f), pts[:2]))
    assert alignment_residuals(gt, frames, np.array(exact), ref).max() < 1e-9
    none = alignment_residuals(gt, frames, translation_affines(np.zeros((len(frames), 2))), ref)
    true = [np.linalg.norm(track_head_points(gt, pts, ref, f) - pts, axis=1).mean() for f in frames]
    np.testing.assert_allclose(none, true, rtol=1e-12)
    assert max(true) > 1.0, "the rotating corpus should move the face by pixels"
    with pytest.raises(ValueError, match="transforms"):
        alignment_residuals(gt, frames, np.zeros((2, 2, 3)), ref)


# ---- the four alignment options ------------------------------------------------------------


def test_similarity_removes_rotation(results):
    """Rotating corpus (+-2 deg sway): similarity's mean residual is below 0.25 x translation's
    with either detector (measured 0.113 / 2.028 = 0.056 with MTCNN, 0.110 / 1.997 = 0.055 with
    MediaPipe); similarity mean < 0.2 px, p95 < 0.5 px (measured 0.11 and 0.27-0.29 px)."""
    for det in ("mtcnn", "mediapipe"):
        trans = results["rotating", det, "translation"][0]
        sim = results["rotating", det, "similarity"][0]
        assert trans.mean() > 1.0, "the sway should defeat translation-only alignment"
        assert sim.mean() < 0.25 * trans.mean(), (det, sim.mean(), trans.mean())
        assert sim.mean() < 0.2 and np.percentile(sim, 95) < 0.5, (det, sim.mean())


def test_both_detectors_give_similar_residuals(results):
    """Same corpus, same transform: MediaPipe's and MTCNN's mean residuals differ by less than
    0.05 px + 5 % (they differ only through the template and eye patches they start from;
    measured: translation 2.028 vs 1.997 px, similarity 0.113 vs 0.110 px on the rotating
    corpus, 0.089-0.12 px on the still one)."""
    for corpus in ("rotating", "still"):
        for transform in ("translation", "similarity"):
            a = results[corpus, "mtcnn", transform][0].mean()
            b = results[corpus, "mediapipe", transform][0].mean()
            assert abs(a - b) < 0.05 + 0.05 * max(a, b), (corpus, transform, a, b)


def test_similarity_costs_little_without_rotation(results):
    """No rotation: similarity's mean residual exceeds translation's by < 0.05 px and its p95
    by < 0.1 px (measured: MediaPipe 0.118 vs 0.089 px mean, 0.276 vs 0.272 px p95; MTCNN
    0.119 vs 0.098 and 0.283 vs 0.288: the eye patches follow eyelid and cheek motion slightly);
    both below 0.2 px mean."""
    for det in ("mtcnn", "mediapipe"):
        trans = results["still", det, "translation"][0]
        sim = results["still", det, "similarity"][0]
        assert sim.mean() < trans.mean() + 0.05 and trans.mean() < 0.2 and sim.mean() < 0.2, \
            (det, sim.mean(), trans.mean())
        assert np.percentile(sim, 95) < np.percentile(trans, 95) + 0.1, det


def test_stored_transforms_reproduce_the_crops(results):
    """transforms are what was warped; shifts are the crop centre's motion under them."""
    _, clips = results["rotating", "mediapipe", "similarity"]
    gt, read, a = clips[0]
    i = len(a.frame_numbers) // 2
    img = read(int(a.frame_numbers[i]))
    box = CropBox(*a.box)
    redo = cv2.cvtColor(warp_crop(img, box, a.transforms[i].astype(np.float64), 224), cv2.COLOR_BGR2RGB)
    assert np.array_equal(redo, a.frames[i])
    centre = a.box[:2]
    np.testing.assert_allclose(apply_affine(invert_affine(a.transforms[i]), centre) - centre,
                               a.shifts[i], atol=1e-3)
    assert a.transforms.shape == (len(a.frame_numbers), 2, 3) and a.transforms.dtype == np.float32
    assert a.fallbacks == 0 and a.eye_ncc.min() > 0.9
    _, clips = results["rotating", "mediapipe", "translation"]
    a = clips[0][2]
    np.testing.assert_array_equal(a.transforms[:, :, 2], -a.shifts)
    np.testing.assert_array_equal(a.transforms[:, :, :2], np.broadcast_to(np.eye(2), (len(a.shifts), 2, 2)))


def test_occluded_eye_falls_back_to_translation(corpora, mediapipe_detector):
    """Frames whose left eye is painted over cannot give a similarity: they are aligned by the
    face template's translation and counted."""
    gt, read = next(_clips(*corpora["rotating"]))
    frames = list(range(gt.onset, gt.offset + 1))
    hidden = set(frames[3:6])
    r, t = head_pose(gt, gt.onset)
    left_eye = (eye_centres(gt.landmarks)[1] - gt.jitter_centre) @ r.T + gt.jitter_centre + t
    x, y = (int(v) for v in left_eye)
    half = int(0.3 * gt.iod)

    def occluded(n):
        img = read(n).copy()
        if n in hidden:
            img[y - half:y + half, x - half:x + half] = 0
        return img

    a = align_frames(occluded, frames, gt.onset, mediapipe_detector, AlignParams(transform="similarity"))
    assert a.fallbacks == len(hidden)
    for i, f in enumerate(frames):
        pure_shift = np.array_equal(a.transforms[i, :, :2], np.eye(2, dtype=np.float32))
        assert pure_shift == (f in hidden or f == gt.onset), f




class _EyesTogether:
    """A detector whose eye centres coincide, so no similarity can be estimated."""

    def __init__(self, detector):
        self.detector = detector

    def detect_largest(self, image):
        from dataclasses import replace

        det = self.detector.detect_largest(image)
        eyes = det.keypoints.copy()
        eyes[1] = eyes[0]
        return replace(det, keypoints=eyes)


def test_clip_without_usable_eyes_is_aligned_by_translation(corpora, mediapipe_detector):
    """When the eyes cannot carry patches, similarity alignment falls back on every frame and
    its crops are exactly the translation-only crops."""
    gt, read = next(_clips(*corpora["still"]))
    frames = list(range(gt.onset, gt.offset + 1))
    det = _EyesTogether(mediapipe_detector)
    sim = align_frames(read, frames, gt.onset, det, AlignParams(transform="similarity"))
    trans = align_frames(read, frames, gt.onset, det, AlignParams(transform="translation"))
    assert sim.fallbacks == len(frames) - 1 and trans.fallbacks == 0
    assert np.array_equal(sim.frames, trans.frames) and np.array_equal(sim.transforms, trans.transforms)
