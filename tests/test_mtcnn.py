"""Torch-only MTCNN (mexflow.align.mtcnn) with facenet-pytorch's weights.

Reference for accuracy: MediaPipe FaceMesh landmarks on scikit-image's astronaut photo.
"""
from __future__ import annotations

import pathlib
from importlib import metadata

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from mexflow.align import mtcnn as mt
from mexflow.align.mtcnn import MTCNN, FaceDetection, locate_facenet_weights, nms

# Tolerances (pixels unless stated). The astronaut's face is about 90 px wide.
IOU_VS_MESH_MIN = 0.5          # MTCNN box vs bounding box of the 478 FaceMesh landmarks
LANDMARK_VS_MESH_PX = 8.0      # each of the 5 MTCNN landmarks vs the matching FaceMesh point
TRANSFORMED_BOX_PX = 6.0       # per coordinate, face rescaled by 0.8 and pasted into a canvas
BORDER_LANDMARK_PX = 4.0       # landmarks of a face cut by the image border vs the uncut face
CONFIDENT = 0.95


def iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def detector() -> MTCNN:
    torch.set_num_threads(2)
    return MTCNN()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def astronaut_face(detector, astronaut) -> FaceDetection:
    faces = detector.detect(astronaut)
    confident = [f for f in faces if f.score > CONFIDENT]
    assert len(confident) == 1, f"expected one confident face, got {[f.score for f in faces]}"
    return confident[0]


@pytest.fixture(scope="module")
def mesh_points(astronaut) -> np.ndarray:
    """(478, 2) FaceMesh landmarks in pixels."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, refine_landmarks=True, max_num_faces=1
    ) as mesh:
        result = mesh.process(astronaut)
    assert result.multi_face_landmarks, "MediaPipe found no face on the astronaut"
    h, w = astronaut.shape[:2]
    pts = np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])
    assert pts.shape == (478, 2)
    return pts


# ------------------------------------------------------------------------------------ weights


def test_weights_load_strictly():
    paths = locate_facenet_weights()
    assert set(paths) == {"pnet", "rnet", "onet"}
    for name, cls in [("pnet", mt.PNet), ("rnet", mt.RNet), ("onet", mt.ONet)]:
        assert paths[name].is_file() and paths[name].name == f"{name}.pt"
        state = torch.load(paths[name], map_location="cpu", weights_only=True)
        net = cls()
        expected = net.state_dict()
        assert set(state) == set(expected)
        assert all(state[k].shape == expected[k].shape for k in state)
        assert all(v.dtype == torch.float32 for v in state.values())
        net.load_state_dict(state, strict=True)


def test_missing_weights_message(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(mt.metadata, "files", not_installed)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps facenet-pytorch==2\.6\.0"):
        locate_facenet_weights()


def test_detector_modules_are_float32_eval(detector):
    for net in (detector.pnet, detector.rnet, detector.onet):
        assert not net.training
        assert all(p.dtype == torch.float32 and not p.requires_grad for p in net.parameters())


# ------------------------------------------------------------------------------ astronaut face


def test_astronaut_single_face_types(detector, astronaut, astronaut_face):
    f = astronaut_face
    assert f.box.shape == (4,) and f.box.dtype == np.float64
    assert f.landmarks.shape == (5, 2) and f.landmarks.dtype == np.float64
    assert isinstance(f.score, float) and 0.0 <= f.score <= 1.0
    faces = detector.detect(astronaut)
    assert [x.score for x in faces] == sorted((x.score for x in faces), reverse=True)
    largest = detector.detect_largest(astronaut)
    assert largest is not None and np.allclose(largest.box, f.box)


def test_astronaut_box_matches_face_mesh(astronaut_face, mesh_points):
    mesh_box = np.r_[mesh_points.min(axis=0), mesh_points.max(axis=0)]
    assert iou(astronaut_face.box, mesh_box) > IOU_VS_MESH_MIN


def test_astronaut_landmarks_match_face_mesh(astronaut_face, mesh_points):
    from mediapipe.python.solutions import face_mesh_connections as fmc

    def centre(connections) -> np.ndarray:
        return mesh_points[sorted({i for edge in connections for i in edge})].mean(axis=0)

    # FaceMesh LEFT/RIGHT are the subject's; on an upright frontal face the subject's right
    # eye and right mouth corner (index 61) are on the image left.
    subject_right_eye = centre(fmc.FACEMESH_RIGHT_EYE)
    subject_left_eye = centre(fmc.FACEMESH_LEFT_EYE)
    assert subject_right_eye[0] < subject_left_eye[0]
    assert mesh_points[61, 0] < mesh_points[291, 0]
    # MTCNN order: image-left eye, image-right eye, nose, image-left mouth, image-right mouth.
    expected = np.stack(
        [subject_right_eye, subject_left_eye, mesh_points[1], mesh_points[61], mesh_points[291]]
    )
    err = np.linalg.norm(astronaut_face.landmarks - expected, axis=1)
    assert np.all(err < LANDMARK_VS_MESH_PX), err


def test_rescaled_and_shifted_face(detector, astronaut, astronaut_face):
    side = round(astronaut.shape[0] * 0.8)  # 410
    scale = side / astronaut.shape[0]
    small = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 128, dtype=np.uint8)
    ox, oy = 150, 40
    canvas[oy : oy + side, ox : ox + side] = small
    face = detector.detect_largest(canvas)
    assert face is not None and face.score > CONFIDENT
    expected = astronaut_face.box * scale + np.array([ox, oy, ox, oy])
    assert np.all(np.abs(face.box - expected) < TRANSFORMED_BOX_PX), face.box - expected


def test_face_cut_by_border_is_zero_padded(detector, astronaut, astronaut_face):
    """The face's top ~30 px lie outside the image: crops are zero-padded, not stretched."""
    dx, dy = 120, 90
    cut = np.full((300, 300, 3), 90, dtype=np.uint8)
    cut[:230, :200] = astronaut[dy : dy + 230, dx : dx + 200]
    face = detector.detect_largest(cut)
    assert face is not None and face.score > CONFIDENT
    assert face.box[1] < 0  # the box extends past the top edge
    err = np.linalg.norm(face.landmarks + [dx, dy] - astronaut_face.landmarks, axis=1)
    assert np.all(err < BORDER_LANDMARK_PX), err


def test_grayscale_input(detector, astronaut, astronaut_face):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    face = detector.detect_largest(gray)
    assert face is not None and face.score > 0.9
    assert iou(face.box, astronaut_face.box) > 0.8


# ---------------------------------------------------------------------------------- negatives


def test_no_face_in_uniform_or_noise(detector):
    uniform = np.full((240, 320, 3), 128, dtype=np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    for image in (uniform, noise):
        assert all(f.score <= 0.9 for f in detector.detect(image))
    assert detector.detect_largest(uniform) is None


def test_image_smaller_than_min_face(detector):
    assert detector.detect(np.zeros((15, 15, 3), dtype=np.uint8)) == []


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((32, 32, 4), dtype=np.uint8),
        np.zeros((32, 32, 3), dtype=np.float32),
        np.zeros((2, 32, 32, 3), dtype=np.uint8),
        np.zeros((32,), dtype=np.uint8),
        [[0, 0], [0, 0]],
    ],
    ids=["rgba", "float", "batch", "1d", "list"],
)
def test_bad_input_raises_value_error(detector, bad):
    with pytest.raises(ValueError, match="uint8|numpy"):
        detector.detect(bad)


# ---------------------------------------------------------------------------------- helpers


def test_nms_union_and_min():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [2, 2, 6, 6]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # union: box 1 overlaps box 0 with IoU 81/119 = 0.68 -> kept at 0.7, dropped at 0.5
    assert nms(boxes, scores, 0.7).tolist() == [3, 0, 1, 2]
    assert nms(boxes, scores, 0.5).tolist() == [3, 0, 2]
    # min: box 3 lies inside box 0 (overlap 1.0) -> box 0 and 1 are suppressed by box 3
    assert nms(boxes, scores, 0.7, mode="min").tolist() == [3, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_weights_argument_and_validation(tmp_path):
    paths = locate_facenet_weights()
    MTCNN({k: str(v) for k, v in paths.items()})  # str paths accepted
    with pytest.raises(ValueError, match="onet"):
        MTCNN({"pnet": paths["pnet"], "rnet": paths["rnet"]})
    with pytest.raises(ValueError):
        MTCNN(paths, thresholds=(0.6, 0.7))
    with pytest.raises(ValueError):
        MTCNN(paths, factor=1.2)
    assert isinstance(paths["pnet"], pathlib.Path)
