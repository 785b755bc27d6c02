"""Named face regions (brows, eyes, nose, mouth, face hull) as FaceMesh landmark groups.

The groups live in resources/face_regions.yaml (sides are the subject's: right_* is on the image
left for a frontal face). `mediapipe_landmark_set` reads the same groups from mediapipe's
connection constants, to check that the YAML still agrees with the installed mediapipe.
"""
from __future__ import annotations

from dataclasses import dataclass

from mexflow.landmarks import N_LANDMARKS
from mexflow.resources import load_resource

REGIONS_FILE = "face_regions.yaml"
FACE = "face"  # the face hull: every other region is clipped to it


@dataclass(frozen=True)
class FaceRegion:
    name: str
    landmarks: tuple[int, ...]  # FaceMesh indices in [0, 478), sorted, unique
    margin: float               # dilation radius as a fraction of the inter-ocular distance
    mediapipe: str              # the mediapipe constant the indices come from, e.g. FACEMESH_LIPS


def _parse_region(name: str, spec) -> FaceRegion:
    where = f"{REGIONS_FILE}: region {name!r}"
    if not isinstance(spec, dict) or not {"landmarks", "margin", "mediapipe"} <= set(spec):
        raise ValueError(f"{where} needs the keys landmarks, margin and mediapipe")
    idx = spec["landmarks"]
    if not isinstance(idx, list) or len(idx) < 3 or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < N_LANDMARKS for i in idx):
        raise ValueError(f"{where}: landmarks must be a list of >= 3 integers in [0, {N_LANDMARKS})")
    if len(set(idx)) != len(idx):
        raise ValueError(f"{where}: landmarks contain duplicates")
    margin = spec["margin"]
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 1:
        raise ValueError(f"{where}: margin must be a number in [0, 1] (fraction of the IOD), got {margin!r}")
    return FaceRegion(name, tuple(sorted(idx)), float(margin), str(spec["mediapipe"]))


def load_face_regions() -> dict[str, FaceRegion]:
    """All regions of resources/face_regions.yaml, in file order (name -> FaceRegion).
    ValueError naming the region when the file is malformed or has no `face` region."""
    doc = load_resource(REGIONS_FILE)
    regions = doc.get("regions") if isinstance(doc, dict) else None
    if not isinstance(regions, dict) or not regions:
        raise ValueError(f"{REGIONS_FILE} must contain a non-empty 'regions' mapping")
    parsed = {str(name): _parse_region(str(name), spec) for name, spec in regions.items()}
    if FACE not in parsed:
        raise ValueError(f"{REGIONS_FILE} must define the {FACE!r} region (the face hull)")
    return parsed


def region_names() -> list[str]:
    """Region names in resources order: right_brow, left_brow, right_eye, left_eye, nose, mouth, face."""
    return list(load_face_regions())


def mediapipe_landmark_set(constant: str) -> tuple[int, ...]:
    """Sorted vertex indices of mediapipe's FaceMesh connection constant `constant`
    (e.g. 'FACEMESH_LEFT_EYEBROW'). ValueError when the installed mediapipe lacks it."""
    from mediapipe.python.solutions import face_mesh_connections

    edges = getattr(face_mesh_connections, constant, None)
    if not constant.startswith("FACEMESH_") or edges is None:
        raise ValueError(f"mediapipe has no FaceMesh connection constant {constant!r}")
    return tuple(sorted({int(i) for edge in edges for i in edge}))
