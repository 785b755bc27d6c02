"""Facial landmarks with MediaPipe FaceMesh (478 points, `refine_landmarks=True`).

Coordinates are (x, y) pixels = MediaPipe's normalised coordinates times the image width and
height. They behave like coordinates with pixel centres at integer positions (the convention of
cv2.remap, cv2.resize and mexflow.align): on scikit-image's astronaut resized by s = 0.5 ... 3,
the mean horizontal landmark offset from s * (landmarks at s = 1) follows that convention's
(s - 1) / 2 within 0.2 px (a pixel-edge convention would predict 0; the vertical offsets carry a
larger scale-dependent bias of FaceMesh itself).

One FaceMesh graph takes tens of milliseconds to build, so code that handles many images keeps
one `FaceMeshRunner` open and passes every image through it.
"""
from __future__ import annotations

import numpy as np

N_LANDMARKS = 478


class FaceMeshError(RuntimeError):
    """MediaPipe found no face in the image."""


def _check_rgb(image_rgb: np.ndarray, what: str = "image") -> None:
    if not isinstance(image_rgb, np.ndarray) or image_rgb.ndim != 3 or image_rgb.shape[2] != 3 \
            or image_rgb.dtype != np.uint8:
        shape, dtype = getattr(image_rgb, "shape", None), getattr(image_rgb, "dtype", type(image_rgb))
        raise ValueError(f"{what}: expected (H, W, 3) uint8 RGB, got {shape} {dtype}")
    if image_rgb.shape[0] < 2 or image_rgb.shape[1] < 2:
        raise ValueError(f"{what}: image of {image_rgb.shape[1]}x{image_rgb.shape[0]} pixels is too small")


class FaceMeshRunner:
    """One MediaPipe FaceMesh graph reused for many images. Use as a context manager.

    static_image_mode=True: every image is searched independently (face detector each time).
    static_image_mode=False: video mode, images are consecutive frames of one clip; after the
    first detection the face is tracked from the previous frame's landmarks (faster, smoother).
    Only the most prominent face is returned.
    """

    def __init__(self, static_image_mode: bool = True, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5):
        import mediapipe as mp  # heavy import, only where needed

        self.static_image_mode = bool(static_image_mode)
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=self.static_image_mode, refine_landmarks=True, max_num_faces=1,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence)

    def __enter__(self) -> "FaceMeshRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the graph; the runner cannot be used afterwards."""
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def find(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """(478, 2) float64 (x, y) pixels of the face in `image_rgb` ((H, W, 3) uint8 RGB), or
        None when no face is found."""
        _check_rgb(image_rgb)
        if self._mesh is None:
            raise RuntimeError("FaceMeshRunner is closed")
        h, w = image_rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(image_rgb))
        if not result.multi_face_landmarks:
            return None
        pts = result.multi_face_landmarks[0].landmark
        return np.array([[p.x * w, p.y * h] for p in pts], dtype=np.float64)

    def landmarks(self, image_rgb: np.ndarray) -> np.ndarray:
        """Like `find`, but raises FaceMeshError when no face is found."""
        pts = self.find(image_rgb)
        if pts is None:
            raise FaceMeshError(f"MediaPipe FaceMesh found no face in the "
                                f"{image_rgb.shape[1]}x{image_rgb.shape[0]} image")
        return pts


def face_mesh_landmarks(image_rgb: np.ndarray) -> np.ndarray:
    """Landmarks of the most prominent face in one image (builds a graph for this call only).

    image_rgb: (H, W, 3) uint8 RGB. Returns (478, 2) float64 (x, y) in pixels.
    Raises FaceMeshError when no face is found.
    """
    _check_rgb(image_rgb)
    with FaceMeshRunner(static_image_mode=True) as runner:
        return runner.landmarks(image_rgb)


def clip_landmarks(frames: np.ndarray, reference_index: int, per_frame: bool = False,
                   runner: FaceMeshRunner | None = None) -> dict:
    """FaceMesh landmarks of an aligned clip.

    frames: (N, H, W, 3) uint8 RGB crops (e.g. AlignedClip.frames); reference_index: index of
    the reference crop in `frames`; runner: an open static-mode FaceMeshRunner to reuse across
    clips for the reference crop (default: one made for this call).
    Returns {'reference_landmarks': (478, 2) float32 pixels, found on the reference crop alone
    (static mode)}, and with per_frame=True also 'landmarks': (N, 478, 2) float32 from one pass
    over the clip in video mode (NaN where no face; its reference row equals
    'reference_landmarks' when the reference is the first frame), and 'found': (N,) bool.
    Raises FaceMeshError when the reference crop has no face.
    """
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 \
            or frames.dtype != np.uint8 or frames.shape[0] == 0:
        raise ValueError(f"frames: expected (N, H, W, 3) uint8 RGB with N >= 1, got "
                         f"{getattr(frames, 'shape', None)} {getattr(frames, 'dtype', type(frames))}")
    n = frames.shape[0]
    if isinstance(reference_index, bool) or not isinstance(reference_index, (int, np.integer)) \
            or not 0 <= reference_index < n:
        raise ValueError(f"reference_index must be an integer in [0, {n}), got {reference_index!r}")
    if runner is not None and not (isinstance(runner, FaceMeshRunner) and runner.static_image_mode):
        raise ValueError("runner must be a FaceMeshRunner in static_image_mode (video mode would "
                         "track from the previous clip's face)")
    try:
        if runner is None:
            with FaceMeshRunner(static_image_mode=True) as own:
                ref = own.landmarks(frames[reference_index])
        else:
            ref = runner.landmarks(frames[reference_index])
    except FaceMeshError as err:
        raise FaceMeshError(f"no face on the reference crop (index {reference_index}): {err}") from None
    out = {"reference_landmarks": ref.astype(np.float32)}
    if per_frame:
        landmarks = np.full((n, N_LANDMARKS, 2), np.nan, np.float32)
        found = np.zeros(n, bool)
        with FaceMeshRunner(static_image_mode=False) as runner:
            for i in range(n):
                pts = runner.find(frames[i])
                if pts is not None:
                    landmarks[i], found[i] = pts, True
        out["landmarks"], out["found"] = landmarks, found
    return out


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
