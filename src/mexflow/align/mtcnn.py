"""Torch-only MTCNN face detector (Zhang et al. 2016) using facenet-pytorch's weights.

Only the three weight files shipped in the facenet-pytorch 2.6.0 wheel
(``facenet_pytorch/data/{pnet,rnet,onet}.pt``) are used; the package itself is never imported
(its ``__init__`` needs torchvision, which this project does not use).

Pipeline (a cascade of three networks):

1. **PNet** (fully convolutional) runs on an image pyramid (scales ``12 / min_face_size``,
   times ``factor`` until the short side is below 12 px). Each output cell is a 12x12 window
   at stride 2 in the resized image; windows with face probability >= ``thresholds[0]`` are
   kept, NMS'd (IoU 0.5 per scale, then 0.7 over all scales), regressed and squared.
2. **RNet** scores 24x24 crops of those boxes (>= ``thresholds[1]``), NMS (IoU 0.7), regression,
   squaring.
3. **ONet** scores 48x48 crops (>= ``thresholds[2]``), regresses boxes and predicts 5 landmarks;
   final NMS with 0.7 on intersection / smaller area.

Geometry convention used throughout (inputs and outputs): continuous pixel coordinates in which
the image covers ``[0, W] x [0, H]`` and pixel ``(row i, col j)`` is the unit square
``[j, j+1) x [i, i+1)``. A box ``(x1, y1, x2, y2)`` with integer values therefore covers exactly
``image[y1:y2, x1:x2]``; its width is ``x2 - x1``. (facenet-pytorch reports boxes in MATLAB-style
1-based inclusive coordinates; its ``x1, y1`` are about 1 px larger than ours, its ``x2, y2`` the
same. Its landmarks use the same convention as ours.)

Crops are taken from the raw RGB image (float32, 0..255), zero-padded where a box extends past
the image border, resampled with area interpolation and normalised as ``(x - 127.5) / 128``.
"""
from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FaceDetection",
    "MTCNN",
    "ONet",
    "PNet",
    "RNet",
    "locate_facenet_weights",
    "nms",
]

WEIGHTS_DISTRIBUTION = "facenet-pytorch"
_NET_NAMES = ("pnet", "rnet", "onet")
_INSTALL_HINT = "pip install --no-deps facenet-pytorch==2.6.0"

# PNet geometry: every output cell sees a 12x12 window of its input, cells are 2 px apart.
_PNET_CELL = 12
_PNET_STRIDE = 2
_RNET_SIZE = 24
_ONET_SIZE = 48
# NMS overlap thresholds of the reference MTCNN cascade.
_NMS_PNET_PER_SCALE = 0.5
_NMS_PNET_ALL = 0.7
_NMS_RNET = 0.7
_NMS_ONET = 0.7
# Largest number of crops sent through RNet / ONet in one forward pass (bounds memory).
_MAX_BATCH = 1024


@dataclass(frozen=True)
class FaceDetection:
    """One detected face.

    box: (4,) float64 ``x1, y1, x2, y2`` in pixels of the input image (continuous coordinates,
        see the module docstring; may extend slightly beyond the image).
    score: ONet face probability in [0, 1].
    landmarks: (5, 2) float64 ``(x, y)`` pixels, in the order the weights define:
        0 = eye on the image left (the subject's right eye, for an upright frontal face),
        1 = eye on the image right (subject's left eye), 2 = nose tip,
        3 = mouth corner on the image left (subject's right), 4 = mouth corner on the image right.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def eye_centres(self) -> np.ndarray:
        """(2, 2) float64: row 0 the subject's right eye (image left), row 1 the left eye
        (the same property as MediaPipeDetection's)."""
        return self.landmarks[:2].copy()

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        x1, y1, x2, y2 = self.box
        return float(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def locate_facenet_weights() -> dict[str, pathlib.Path]:
    """Paths of ``pnet.pt``, ``rnet.pt`` and ``onet.pt`` inside the installed facenet-pytorch wheel.

    Found through the distribution's file list (``importlib.metadata``), without importing the
    package. Returns ``{"pnet": Path, "rnet": Path, "onet": Path}``.
    Raises FileNotFoundError (with the install command) when the wheel or a file is missing.
    """
    try:
        files = metadata.files(WEIGHTS_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        files = None
    if not files:
        raise FileNotFoundError(
            f"MTCNN weights not found: the '{WEIGHTS_DISTRIBUTION}' distribution is not installed. "
            f"Install it (weights only, without its dependencies) with: {_INSTALL_HINT}"
        )
    wanted = {f"{n}.pt" for n in _NET_NAMES}
    found: dict[str, pathlib.Path] = {}
    for entry in files:
        parts = entry.parts
        if len(parts) >= 2 and parts[-2] == "data" and entry.name in wanted:
            path = pathlib.Path(entry.locate()).resolve()
            if path.is_file():
                found[entry.name[:-3]] = path
    missing = [n for n in _NET_NAMES if n not in found]
    if missing:
        raise FileNotFoundError(
            f"MTCNN weights {', '.join(m + '.pt' for m in missing)} not found in the installed "
            f"'{WEIGHTS_DISTRIBUTION}' distribution. Reinstall it with: {_INSTALL_HINT}"
        )
    return {n: found[n] for n in _NET_NAMES}


def _load_state_dict(module: nn.Module, path: str | pathlib.Path) -> None:
    """Load a plain state dict (tensors only, ``weights_only=True``) strictly into ``module``."""
    from mexflow.checkpoints import load_weights_only

    state = load_weights_only(pathlib.Path(path))   # CheckpointError naming the file if unusable
    module.load_state_dict(state, strict=True)


# --------------------------------------------------------------------------------------------
# Networks. Attribute names (conv1, prelu1, ..., dense6_3) are those of the weight files.
# Pooling layers have no parameters and are applied functionally (ceil_mode as in Caffe).
# --------------------------------------------------------------------------------------------


def _conv_prelu(conv: nn.Conv2d, prelu: nn.PReLU, x: torch.Tensor) -> torch.Tensor:
    return prelu(conv(x))


def _pool(x: torch.Tensor, kernel: int) -> torch.Tensor:
    return F.max_pool2d(x, kernel_size=kernel, stride=2, ceil_mode=True)


def _caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    """Flatten (N, C, H, W) in the (W, H, C) order the converted dense weights expect."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


def _face_probability(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the 2-class axis 1 (background, face); returns the face channel."""
    return torch.softmax(logits, dim=1)[:, 1]


class PNet(nn.Module):
    """Proposal net, fully convolutional.

    forward(x: (N, 3, H, W) float32 normalised, H, W >= 12) ->
        prob: (N, H', W') face probability per 12x12 window (stride 2),
        reg: (N, 4, H', W') box offsets (dx1, dy1, dx2, dy2) in units of the window size.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _pool(_conv_prelu(self.conv1, self.prelu1, x), 2)
        x = _conv_prelu(self.conv2, self.prelu2, x)
        x = _conv_prelu(self.conv3, self.prelu3, x)
        return _face_probability(self.conv4_1(x)), self.conv4_2(x)


class RNet(nn.Module):
    """Refinement net.

    forward(x: (N, 3, 24, 24) float32 normalised) ->
        prob: (N,) face probability, reg: (N, 4) box offsets in units of the box size.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(3 * 3 * 64, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _pool(_conv_prelu(self.conv1, self.prelu1, x), 3)
        x = _pool(_conv_prelu(self.conv2, self.prelu2, x), 3)
        x = _conv_prelu(self.conv3, self.prelu3, x)
        x = self.prelu4(self.dense4(_caffe_flatten(x)))
        return _face_probability(self.dense5_1(x)), self.dense5_2(x)


class ONet(nn.Module):
    """Output net.

    forward(x: (N, 3, 48, 48) float32 normalised) ->
        prob: (N,) face probability, reg: (N, 4) box offsets in units of the box size,
        points: (N, 10) landmarks as fractions of the box: 5 x values, then 5 y values.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(3 * 3 * 128, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = _pool(_conv_prelu(self.conv1, self.prelu1, x), 3)
        x = _pool(_conv_prelu(self.conv2, self.prelu2, x), 3)
        x = _pool(_conv_prelu(self.conv3, self.prelu3, x), 2)
        x = _conv_prelu(self.conv4, self.prelu4, x)
        x = self.prelu5(self.dense5(_caffe_flatten(x)))
        return _face_probability(self.dense6_1(x)), self.dense6_2(x), self.dense6_3(x)


# --------------------------------------------------------------------------------------------
# Box geometry (numpy, float64; boxes are (N, 4) x1, y1, x2, y2)
# --------------------------------------------------------------------------------------------


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression.

    boxes: (N, 4) float, scores: (N,). A box is dropped when its overlap with an already kept,
    higher-scoring box exceeds ``threshold``; overlap is intersection / union (``mode="union"``)
    or intersection / smaller area (``mode="min"``). Returns kept indices (int64), best first.
    """
    if mode not in ("union", "min"):
        raise ValueError(f"mode must be 'union' or 'min', got {mode!r}")
    order = np.argsort(-np.asarray(scores), kind="stable")
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        iw = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = iw * ih
        if mode == "union":
            denom = area[best] + area[rest] - inter
        else:
            denom = np.minimum(area[best], area[rest])
        overlap = inter / np.maximum(denom, 1e-12)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _apply_offsets(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move each box edge by its offset times the box width (x) or height (y)."""
    size = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    return boxes + offsets * size


def _to_square(boxes: np.ndarray) -> np.ndarray:
    """Square boxes with side max(width, height), keeping their centres."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    half = np.max(boxes[:, 2:] - boxes[:, :2], axis=1, keepdims=True) / 2.0
    return np.concatenate([centre - half, centre + half], axis=1)


def _valid(boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: finite boxes with positive width and height."""
    return np.all(np.isfinite(boxes), axis=1) & np.all(boxes[:, 2:] > boxes[:, :2], axis=1)


@dataclass
class _Candidates:
    """Boxes surviving a stage. boxes (N, 4), scores (N,), offsets (N, 4), all float64."""

    boxes: np.ndarray
    scores: np.ndarray
    offsets: np.ndarray

    @classmethod
    def empty(cls) -> _Candidates:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 4)))

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> _Candidates:
        return _Candidates(self.boxes[index], self.scores[index], self.offsets[index])

    @classmethod
    def concat(cls, parts: Sequence[_Candidates]) -> _Candidates:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.offsets for p in parts]),
        )


# --------------------------------------------------------------------------------------------
# Image handling (torch, on the detector's device)
# --------------------------------------------------------------------------------------------


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate ``image`` ((H, W, 3) or (H, W) uint8) and return (H, W, 3) uint8 RGB."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0..255), got dtype {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be (H, W, 3) uint8 RGB or (H, W) uint8 grayscale, got shape {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty, shape {image.shape}")
    return image


def _normalise(pixels: torch.Tensor) -> torch.Tensor:
    """Map 0..255 pixel values to about [-1, 1], as the weights were trained."""
    return (pixels - 127.5) * 0.0078125


def _pyramid_scales(height: int, width: int, min_face_size: int, factor: float) -> list[float]:
    """Resize factors so that faces of ``min_face_size`` px and larger map onto 12 px windows."""
    scale = _PNET_CELL / min_face_size
    short = min(height, width)
    scales = []
    while short * scale >= _PNET_CELL:
        scales.append(scale)
        scale *= factor
    return scales


def _crop_resized(image: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """Square crops of ``boxes`` resampled to ``size`` x ``size`` (area interpolation).

    image: (3, H, W) float32 0..255. boxes: (N, 4) with integer values; parts outside the image
    are zero. Returns (N, 3, size, size) float32, not normalised.
    """
    _, h, w = image.shape
    out = image.new_zeros((len(boxes), 3, size, size))
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(np.int64)):
        patch = image.new_zeros((3, y2 - y1, x2 - x1))
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx2 > sx1 and sy2 > sy1:
            patch[:, sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[:, sy1:sy2, sx1:sx2]
        out[k] = F.interpolate(patch[None], size=(size, size), mode="area")[0]
    return out


def _batched(
    net: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], x: torch.Tensor
) -> list[np.ndarray]:
    """Run ``net`` over ``x`` in chunks; outputs concatenated and returned as float64 numpy."""
    chunks = [net(x[i : i + _MAX_BATCH]) for i in range(0, len(x), _MAX_BATCH)]
    return [torch.cat(parts).double().cpu().numpy() for parts in zip(*chunks)]


# --------------------------------------------------------------------------------------------
# Detector
# --------------------------------------------------------------------------------------------


class MTCNN:
    """Three-stage MTCNN face detector with facenet-pytorch's pretrained weights.

    weights: ``{"pnet": path, "rnet": path, "onet": path}``; default: ``locate_facenet_weights()``.
    min_face_size: smallest face side (pixels) searched for.
    thresholds: face-probability thresholds of PNet, RNet, ONet.
    factor: ratio between successive image-pyramid scales, in (0, 1).
    device: torch device the networks run on (``"cpu"``, ``"cuda"``, ...).
    """

    def __init__(
        self,
        weights: Mapping[str, str | pathlib.Path] | None = None,
        *,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        device: str | torch.device = "cpu",
    ) -> None:
        if min_face_size < 1:
            raise ValueError(f"min_face_size must be >= 1, got {min_face_size}")
        if len(thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be 3 probabilities, got {thresholds!r}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        weights = locate_facenet_weights() if weights is None else weights
        missing = [n for n in _NET_NAMES if n not in weights]
        if missing:
            raise ValueError(f"weights lacks {missing}; expected keys {list(_NET_NAMES)}")

        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        self.device = torch.device(device)
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        for name, net in zip(_NET_NAMES, (self.pnet, self.rnet, self.onet)):
            _load_state_dict(net, weights[name])
            net.to(device=self.device, dtype=torch.float32).eval()
            net.requires_grad_(False)

    # -- public API --------------------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Detect faces.

        image: (H, W, 3) uint8 RGB, or (H, W) uint8 grayscale (replicated to 3 channels).
        Returns FaceDetection objects sorted by score, descending (empty list if none).
        Raises ValueError for any other input.
        """
        rgb = _as_rgb_uint8(image)
        with torch.inference_mode():
            pixels = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device)
            pixels = pixels.permute(2, 0, 1).to(torch.float32)
            proposals = self._stage_proposals(pixels)
            refined = self._stage_refine(pixels, proposals)
            boxes, scores, points = self._stage_output(pixels, refined)
        order = np.argsort(-scores, kind="stable")
        return [
            FaceDetection(box=boxes[i].copy(), score=float(scores[i]), landmarks=points[i].copy())
            for i in order
        ]

    def detect_largest(self, image: np.ndarray) -> FaceDetection | None:
        """The detection with the largest box area, or None when no face is found."""
        faces = self.detect(image)
        return max(faces, key=lambda f: f.area) if faces else None

    # -- stages --------------------------------------------------------------------------------

    def _stage_proposals(self, pixels: torch.Tensor) -> np.ndarray:
        """PNet over the pyramid. Returns (N, 4) squared, integer-valued proposal boxes."""
        _, h, w = pixels.shape
        per_scale = []
        for scale in _pyramid_scales(h, w, self.min_face_size, self.factor):
            found = self._pnet_windows(pixels, scale)
            per_scale.append(found.take(nms(found.boxes, found.scores, _NMS_PNET_PER_SCALE)))
        found = _Candidates.concat(per_scale)
        found = found.take(nms(found.boxes, found.scores, _NMS_PNET_ALL))
        return self._next_boxes(found)

    def _pnet_windows(self, pixels: torch.Tensor, scale: float) -> _Candidates:
        """PNet windows at one pyramid scale with probability >= thresholds[0], in image pixels."""
        _, h, w = pixels.shape
        size = (int(h * scale + 1), int(w * scale + 1))
        resized = F.interpolate(pixels[None], size=size, mode="area")
        prob, reg = self.pnet(_normalise(resized))
        prob, reg = prob[0].double().cpu().numpy(), reg[0].double().cpu().numpy()
        rows, cols = np.nonzero(prob >= self.thresholds[0])
        # Exact per-axis factors of the resized image (the +1 above makes them differ from scale).
        sy, sx = size[0] / h, size[1] / w
        x1, y1 = _PNET_STRIDE * cols / sx, _PNET_STRIDE * rows / sy
        x2 = (_PNET_STRIDE * cols + _PNET_CELL) / sx
        y2 = (_PNET_STRIDE * rows + _PNET_CELL) / sy
        return _Candidates(
            boxes=np.stack([x1, y1, x2, y2], axis=1),
            scores=prob[rows, cols],
            offsets=reg[:, rows, cols].T,
        )

    def _stage_refine(self, pixels: torch.Tensor, boxes: np.ndarray) -> np.ndarray:
        """RNet on 24x24 crops. Returns (N, 4) squared, integer-valued boxes."""
        if len(boxes) == 0:
            return boxes
        crops = _normalise(_crop_resized(pixels, boxes, _RNET_SIZE))
        prob, reg = _batched(self.rnet, crops)
        keep = prob >= self.thresholds[1]
        found = _Candidates(boxes[keep], prob[keep], reg[keep])
        found = found.take(nms(found.boxes, found.scores, _NMS_RNET))
        return self._next_boxes(found)

    def _stage_output(
        self, pixels: torch.Tensor, boxes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ONet on 48x48 crops. Returns boxes (N, 4), scores (N,), landmarks (N, 5, 2)."""
        if len(boxes) == 0:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        crops = _normalise(_crop_resized(pixels, boxes, _ONET_SIZE))
        prob, reg, rel_points = _batched(self.onet, crops)
        keep = prob >= self.thresholds[2]
        boxes, prob, reg, rel_points = boxes[keep], prob[keep], reg[keep], rel_points[keep]
        # Landmarks are fractions of the crop box (before its regression).
        rel = np.stack([rel_points[:, :5], rel_points[:, 5:]], axis=2)  # (N, 5, 2)
        points = boxes[:, None, :2] + rel * (boxes[:, None, 2:] - boxes[:, None, :2])
        boxes = _apply_offsets(boxes, reg)
        ok = _valid(boxes)
        boxes, prob, points = boxes[ok], prob[ok], points[ok]
        keep = nms(boxes, prob, _NMS_ONET, mode="min")
        return boxes[keep], prob[keep], points[keep]

    @staticmethod
    def _next_boxes(found: _Candidates) -> np.ndarray:
        """Regress, square and round candidate boxes into the crops of the next stage."""
        boxes = _apply_offsets(found.boxes, found.offsets)
        boxes = _to_square(boxes[_valid(boxes)])
        boxes = np.round(boxes)
        return boxes[_valid(boxes)]
