"""FaceMesh landmarks on aligned crops, face-region masks and their figures, checked against the
synthetic ground truth (the generator's own landmarks mapped into the crop)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mexflow.align.template import CropBox, crop_resize, warp_crop
from mexflow.geometry.figures import REGION_COLOURS, mask_overlay, save_mask_figure
from mexflow.geometry.masks import dilate_disk, hull_mask, region_masks
from mexflow.geometry.regions import load_face_regions, mediapipe_landmark_set
from mexflow.landmarks import (FaceMeshError, FaceMeshRunner, clip_landmarks, face_mesh_landmarks,
                               inter_ocular_distance)
from mexflow.synthetic.ground_truth import ClipTruth, head_pose, landmarks_at, landmarks_in_crop

CROP = 224
# FaceMesh on the reference (onset) crop vs the generator's landmarks, crop pixels, per clip.
# Measured on the 6 session clips: median 0.98-1.60 px, 95th percentile 3.25-4.29 px.
REF_MEDIAN_PX, REF_P95_PX = 2.0, 5.0
# Every frame of a clip, FaceMesh in video mode vs the generator's landmarks at that frame.
# Measured: median 0.95-1.64 px, 95th percentile 3.34-5.93 px.
FRAME_MEDIAN_PX, FRAME_P95_PX = 2.0, 7.0
# Masks from detected vs true landmarks. Measured IoU: lowest 0.866 (an eye), mean 0.945.
IOU_MIN, IOU_MEAN_MIN = 0.80, 0.90
EXPECTED_REGIONS = {  # name -> (mediapipe constant, margin as a fraction of the IOD)
    "right_brow": ("FACEMESH_RIGHT_EYEBROW", 0.12), "left_brow": ("FACEMESH_LEFT_EYEBROW", 0.12),
    "right_eye": ("FACEMESH_RIGHT_EYE", 0.08), "left_eye": ("FACEMESH_LEFT_EYE", 0.08),
    "nose": ("FACEMESH_NOSE", 0.04), "mouth": ("FACEMESH_LIPS", 0.06), "face": ("FACEMESH_FACE_OVAL", 0.0),
}


@pytest.fixture(scope="module")
def clips(aligned_small_corpus):
    """Per clip: (truth, AlignedClip of onset..offset at 224 px, reference index,
    clip_landmarks(per_frame=True))."""
    out = []
    for gt, a in aligned_small_corpus:
        ref = int(np.flatnonzero(a.frame_numbers == gt.onset)[0])
        out.append((gt, a, ref, clip_landmarks(a.frames, ref, per_frame=True)))
    return out


def _true_reference(gt, a) -> np.ndarray:
    return landmarks_in_crop(gt, a.box, CROP, gt.onset)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


# --- landmarks ---------------------------------------------------------------------------------

def test_reference_landmarks_match_the_generator(clips):
    for gt, a, _, lm in clips:
        ref = lm["reference_landmarks"]
        assert ref.shape == (478, 2) and ref.dtype == np.float32
        err = np.linalg.norm(ref - _true_reference(gt, a), axis=1)
        assert np.median(err) < REF_MEDIAN_PX and np.percentile(err, 95) < REF_P95_PX, (
            gt.aus, np.median(err), np.percentile(err, 95))


def test_per_frame_landmarks_follow_the_generator(clips):
    for gt, a, ref, lm in clips:
        n = len(a.frame_numbers)
        assert lm["landmarks"].shape == (n, 478, 2) and lm["landmarks"].dtype == np.float32
        assert lm["found"].shape == (n,) and lm["found"].all()
        # video mode starts with a full detection on the same crop: identical to static mode
        if ref == 0:
            np.testing.assert_allclose(lm["landmarks"][0], lm["reference_landmarks"], atol=0.05)
        truth = np.stack([landmarks_in_crop(gt, a.box, CROP, int(f), a.transforms[i])
                          for i, f in enumerate(a.frame_numbers)])
        err = np.linalg.norm(lm["landmarks"] - truth, axis=-1)
        assert np.median(err) < FRAME_MEDIAN_PX and np.percentile(err, 95) < FRAME_P95_PX, (
            np.median(err), np.percentile(err, 95))


def _ruled_truth() -> ClipTruth:
    """A hand-made clip: uniform expression field D = (1.2, -0.8) px, a rotated and translated
    head at frame 11, landmarks scattered over a 400x300 canvas."""
    rng = np.random.default_rng(5)
    field = np.broadcast_to(np.array([1.2, -0.8], np.float32), (300, 400, 2)).copy()
    return ClipTruth(
        frames=np.array([10, 11]), amplitude=np.array([0.0, 0.5], np.float32), apex_field=field,
        jitter=np.array([[0, 0, 0], [1.5, -2.0, 0.3]], np.float32), jitter_centre=np.array([190.0, 140.0]),
        gain=np.ones(2, np.float32), landmarks=np.column_stack([rng.uniform(150, 250, 478),
                                                                rng.uniform(100, 200, 478)]),
        iod=60.0, aus="12", emotion="happiness", onset=10, apex=11, offset=11, peak_px=1.44, fps=200.0,
        noise_sigma=0.0)


def test_landmarks_at_is_expression_then_head_pose():
    """z = R(theta) (x + a D - c) + c + t, evaluated in closed form."""
    gt = _ruled_truth()
    th = np.deg2rad(0.3)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    moved = gt.landmarks + 0.5 * np.array([1.2, -0.8])
    expected = (moved - gt.jitter_centre) @ rot.T + gt.jitter_centre + np.array([1.5, -2.0])
    np.testing.assert_allclose(landmarks_at(gt, 11), expected, atol=1e-4)
    np.testing.assert_allclose(landmarks_at(gt, 10), gt.landmarks, atol=1e-9)
    assert np.allclose(head_pose(gt, 11)[0], rot)


def _bilinear(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear samples of a 2-D float image at (K, 2) (x, y) points, in float64 (cv2.remap
    would round the positions to 1/32 px)."""
    x0, y0 = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
    fx, fy = pts[:, 0] - x0, pts[:, 1] - y0
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bottom = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


@pytest.mark.parametrize("rotation_deg, scale, shift", [(0.0, 1.0, (0.0, 0.0)), (0.0, 1.0, (1.3, -0.6)),
                                                        (2.5, 1.04, (-2.2, 0.9))])
def test_landmarks_in_crop_uses_the_aligners_crop_geometry(rotation_deg, scale, shift):
    """Crop two ramps (value = camera x, value = camera y) with the aligner's warp_crop for a
    frame -> reference transform; the crop sampled at landmarks_in_crop's position must read
    back the landmark's camera position (bilinear sampling is exact on ramps).
    Tolerance 0.02 px (warpAffine rounds sample positions to a 1/32 px grid)."""
    gt = _ruled_truth()
    box, size = CropBox(201.3, 148.7, 180.0), 120
    th = np.deg2rad(rotation_deg)
    transform = np.array([[scale * np.cos(th), -scale * np.sin(th), -shift[0]],
                          [scale * np.sin(th), scale * np.cos(th), -shift[1]]])
    transform[:, 2] += np.array([box.cx, box.cy]) - transform[:, :2] @ np.array([box.cx, box.cy])
    ys, xs = np.mgrid[0:300, 0:400].astype(np.float32)
    crops = [warp_crop(ramp, box, transform, size) for ramp in (xs, ys)]
    camera = landmarks_at(gt, 11)
    u = landmarks_in_crop(gt, (box.cx, box.cy, box.size), size, 11, transform)
    assert u.min() > 3 and u.max() < size - 4, "test points must stay inside the crop"
    for axis, crop in enumerate(crops):
        np.testing.assert_allclose(_bilinear(crop, u), camera[:, axis], atol=0.02)
    if rotation_deg == 0 and scale == 1:  # the translation case is crop_resize
        np.testing.assert_array_equal(crop_resize(xs, box, *shift, size), crops[0])


# --- regions and masks -------------------------------------------------------------------------

def test_yaml_regions_agree_with_mediapipe():
    regions = load_face_regions()
    assert list(regions) == list(EXPECTED_REGIONS)
    for name, (constant, margin) in EXPECTED_REGIONS.items():
        assert regions[name].mediapipe == constant
        assert regions[name].landmarks == mediapipe_landmark_set(constant), name
        assert regions[name].margin == pytest.approx(margin)


def test_subject_right_is_image_left_on_the_astronaut():
    import skimage.data

    pts = face_mesh_landmarks(skimage.data.astronaut())
    regions = load_face_regions()
    centre_x = pts[list(regions["face"].landmarks), 0].mean()
    for part in ("brow", "eye"):
        right_x = pts[list(regions[f"right_{part}"].landmarks), 0].mean()
        left_x = pts[list(regions[f"left_{part}"].landmarks), 0].mean()
        assert right_x < centre_x < left_x


def test_detected_masks_match_true_masks(clips):
    ious = []
    for gt, a, _, lm in clips:
        names, true = region_masks(_true_reference(gt, a), (CROP, CROP))
        names_d, found = region_masks(lm["reference_landmarks"].astype(np.float64), (CROP, CROP))
        assert names == names_d == list(EXPECTED_REGIONS)
        assert true.shape == (len(names), CROP, CROP) and true.dtype == bool
        iou = [_iou(t, f) for t, f in zip(true, found)]
        assert min(iou) > IOU_MIN, dict(zip(names, iou))
        ious += iou
    assert np.mean(ious) > IOU_MEAN_MIN


def test_mask_layout_on_aligned_crops(clips):
    """Every region non-empty; brows above eyes above nose above mouth; the subject's right
    regions on the image left; every region inside the face hull."""
    for gt, a, _, lm in clips:
        names, masks = region_masks(lm["reference_landmarks"].astype(np.float64), (CROP, CROP))
        m = dict(zip(names, masks))
        assert all(mask.sum() >= 30 for mask in masks), {n: int(k.sum()) for n, k in m.items()}
        cy = {n: np.nonzero(k)[0].mean() for n, k in m.items()}
        cx = {n: np.nonzero(k)[1].mean() for n, k in m.items()}
        for side in ("right", "left"):
            assert cy[f"{side}_brow"] < cy[f"{side}_eye"] < cy["nose"] < cy["mouth"]
        for part in ("brow", "eye"):
            assert cx[f"right_{part}"] < cx["face"] < cx[f"left_{part}"]
        for name, mask in m.items():
            assert not (mask & ~m["face"]).any(), name


def test_masks_follow_the_image_resolution(clips):
    """Masks at 112 px from the landmarks mapped to 112 px agree with the 224 px masks shrunk
    by 2 (pixel centres at integers: x_112 = (x_224 + 0.5) / 2 - 0.5). IoU > 0.85 per region."""
    gt, a, _, _ = clips[0]
    pts = _true_reference(gt, a)
    names, big = region_masks(pts, (CROP, CROP))
    _, small = region_masks((pts + 0.5) / 2 - 0.5, (CROP // 2, CROP // 2))
    for name, b, s in zip(names, big, small):
        shrunk = cv2.resize(b.astype(np.float32), (CROP // 2, CROP // 2), interpolation=cv2.INTER_AREA) >= 0.5
        assert _iou(shrunk, s) > 0.85, name


def test_margins_are_respected(clips):
    """Each mask is its hull dilated by margin x IOD, clipped to the face; area grows with the
    margin; the face's dilated area follows Steiner's formula A + P r + pi r^2 for a convex
    polygon (plus the half-pixel outline fillConvexPoly adds, P / 2), within 1.5 %."""
    gt, a, _, _ = clips[0]
    pts = _true_reference(gt, a)
    iod = inter_ocular_distance(pts)
    regions = load_face_regions()
    names, masks = region_masks(pts, (CROP, CROP))
    face = masks[names.index("face")]
    for name, mask in zip(names, masks):
        hull = hull_mask(pts[list(regions[name].landmarks)], (CROP, CROP))
        expected = dilate_disk(hull, regions[name].margin * iod) & (face if name != "face" else True)
        np.testing.assert_array_equal(mask, expected)
    steps = (0.0, 0.03, 0.06, 0.12)
    for name in EXPECTED_REGIONS:
        if name == "face":
            continue
        areas = [region_masks(pts, (CROP, CROP), [name], margins={name: m})[1].sum() for m in steps]
        assert np.all(np.diff(areas) > 0), (name, areas)
    hull = cv2.convexHull(pts[list(regions["face"].landmarks)].astype(np.float32))
    area, perimeter = cv2.contourArea(hull), cv2.arcLength(hull, True)
    for m in (0.0, 0.05, 0.1, 0.2):
        # drawn on a larger canvas so that the dilated face is not cut by the border
        got = region_masks(pts + 60.0, (CROP + 120, CROP + 120), ["face"], margins={"face": m})[1].sum()
        r = round(m * iod)
        expected = area + perimeter * (r + 0.5) + np.pi * r * r
        assert abs(got - expected) < 0.015 * expected, (m, got, expected)


# --- figures -----------------------------------------------------------------------------------

def test_overlay_changes_exactly_the_masked_pixels_and_figure_is_written(clips, tmp_path):
    gt, a, ref, lm = clips[0]
    image = a.frames[ref]
    pts = lm["reference_landmarks"].astype(np.float64)
    names, masks = region_masks(pts, (CROP, CROP))
    overlay = mask_overlay(image, names, masks)
    assert overlay.shape == image.shape and overlay.dtype == np.uint8
    changed = (overlay != image).any(-1)
    np.testing.assert_array_equal(changed, masks.any(0))
    # each region's outline is drawn in its solid colour (where no later outline covers it)
    for name, mask in zip(names, masks):
        solid = (overlay == np.array(REGION_COLOURS[name], np.uint8)).all(-1)
        assert (solid & mask).sum() >= 20, name
    path = tmp_path / "figs" / "masks.png"
    save_mask_figure(path, image, names, masks, landmarks=pts, scale=2)
    png = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert png is not None and png.shape == (2 * CROP, 2 * CROP + 110, 3)  # legend strip on the right
    assert sorted(p.name for p in path.parent.iterdir()) == ["masks.png"], "temporary file left behind"
    # the image part shows the overlay
    face = cv2.cvtColor(png, cv2.COLOR_BGR2RGB)[:, :2 * CROP].astype(int)
    expected = cv2.resize(overlay, (2 * CROP, 2 * CROP), interpolation=cv2.INTER_NEAREST)
    assert np.median(np.abs(face - expected)) <= 2


# --- bad input ---------------------------------------------------------------------------------

def test_no_face_raises_face_mesh_error():
    blank = np.full((224, 224, 3), 128, np.uint8)
    with pytest.raises(FaceMeshError):
        face_mesh_landmarks(blank)
    with FaceMeshRunner() as runner:
        assert runner.find(blank) is None
        with pytest.raises(FaceMeshError):
            runner.landmarks(blank)
    with pytest.raises(FaceMeshError, match="reference crop"):
        clip_landmarks(np.stack([blank, blank]), 1)


def test_a_shared_runner_gives_the_same_reference_landmarks(clips):
    with FaceMeshRunner() as runner:
        for _, a, ref, lm in clips[:2]:
            again = clip_landmarks(a.frames, ref, runner=runner)["reference_landmarks"]
            np.testing.assert_array_equal(again, lm["reference_landmarks"])
    with FaceMeshRunner(static_image_mode=False) as video, pytest.raises(ValueError, match="static"):
        clip_landmarks(clips[0][1].frames, 0, runner=video)


def test_frames_without_a_face_are_flagged(clips):
    _, a, ref, _ = clips[0]
    face = a.frames[ref]
    frames = np.stack([face, np.full_like(face, 128), face])
    out = clip_landmarks(frames, 0, per_frame=True)
    np.testing.assert_array_equal(out["found"], [True, False, True])
    assert np.isnan(out["landmarks"][1]).all() and np.isfinite(out["landmarks"][[0, 2]]).all()


@pytest.mark.parametrize("call", [
    lambda: face_mesh_landmarks(np.zeros((64, 64), np.uint8)),
    lambda: face_mesh_landmarks(np.zeros((64, 64, 3), np.float32)),
    lambda: clip_landmarks(np.zeros((64, 64, 3), np.uint8), 0),
    lambda: clip_landmarks(np.zeros((2, 64, 64, 3), np.float64), 0),
    lambda: clip_landmarks(np.zeros((2, 64, 64, 3), np.uint8), 2),
    lambda: region_masks(np.zeros((468, 2)), (64, 64)),
    lambda: region_masks(np.zeros((478, 2), np.int64), (64, 64)),
    lambda: region_masks(np.full((478, 2), np.nan), (64, 64)),
    lambda: region_masks(np.random.default_rng(0).uniform(0, 60, (478, 2)), (64,)),
    lambda: region_masks(np.random.default_rng(0).uniform(0, 60, (478, 2)), (64, 0)),
    lambda: region_masks(np.random.default_rng(0).uniform(0, 60, (478, 2)), (64, 64), ["cheek"]),
    lambda: region_masks(np.random.default_rng(0).uniform(0, 60, (478, 2)), (64, 64), margins={"nose": -1}),
    lambda: mask_overlay(np.zeros((8, 8, 3), np.uint8), ["nose"], np.zeros((1, 8, 8), np.uint8)),
    lambda: mask_overlay(np.zeros((8, 8, 3), np.uint8), ["nose"], np.zeros((1, 8, 9), bool)),
    lambda: mask_overlay(np.zeros((8, 8, 3), np.uint8), ["nose", "mouth"], np.zeros((1, 8, 8), bool)),
    lambda: mask_overlay(np.zeros((8, 8, 3), np.float32), ["nose"], np.zeros((1, 8, 8), bool)),
    lambda: save_mask_figure("x.jpg", np.zeros((8, 8, 3), np.uint8), ["nose"], np.zeros((1, 8, 8), bool)),
    lambda: landmarks_in_crop(_ruled_truth(), (200.0, 150.0), 120, 11),
    lambda: landmarks_in_crop(_ruled_truth(), (200.0, 150.0, 0.0), 120, 11),
    lambda: landmarks_in_crop(_ruled_truth(), (200.0, 150.0, 180.0), 120.5, 11),
    lambda: landmarks_in_crop(_ruled_truth(), (200.0, 150.0, 180.0), 120, 11, np.eye(3)),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
