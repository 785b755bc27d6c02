"""Facial landmarks with MediaPipe FaceMesh (478 points, `refine_landmarks=True`)."""
from __future__ import annotations

import numpy as np

N_LANDMARKS = 478


class FaceMeshError(RuntimeError):
    """MediaPipe found no face in the image."""


def face_mesh_landmarks(image_rgb: np.ndarray) -> np.ndarray:
    """Landmarks of the most prominent face.

    image_rgb: (H, W, 3) uint8 RGB. Returns (478, 2) float64 (x, y) in pixels.
    Raises FaceMeshError when no face is found.
    """
    import mediapipe as mp  # heavy import, only where needed

    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {image_rgb.shape} {image_rgb.dtype}")
    h, w = image_rgb.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, refine_landmarks=True, max_num_faces=1
    ) as mesh:
        result = mesh.process(np.ascontiguousarray(image_rgb))
    if not result.multi_face_landmarks:
        raise FaceMeshError("MediaPipe FaceMesh found no face")
    pts = result.multi_face_landmarks[0].landmark
    return np.array([[p.x * w, p.y * h] for p in pts], dtype=np.float64)


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right eye (image left) and left eye, (2,) each, from the
    FaceMesh eye contours (indices 33/133 and 362/263 corners)."""
    right = (landmarks[33] + landmarks[133]) / 2.0
    left = (landmarks[362] + landmarks[263]) / 2.0
    return right, left


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """Distance in pixels between the two eye centres."""
    r, l = eye_centres(landmarks)
    return float(np.linalg.norm(l - r))
