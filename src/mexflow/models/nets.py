"""Deep micro-expression recognisers (torch ``nn.Module``s).

Every network takes ``x`` float32 (N, C, T, H, W) -- the output of
:func:`mexflow.models.inputs.to_model_input`, standardised per channel -- and returns
``(logits (N, K), au_logits (N, A) or None)``: emotion logits (softmax / cross-entropy) and
per-AU logits (sigmoid / binary focal loss) when the network has an AU head.

Kinds (REFERENCES §1.3, §1.4):

``cnn3d``      Emotion Engine multitask 3D CNN. About 1.12 M parameters at the reference
               settings (C=3 flow+strain, K=5, A=12: 1,119,177).
``cnn_lstm``   3D conv stem (keeps T) + time-distributed 2D CNN + bidirectional LSTM.
               About 1.66 M parameters at width 1 (C=3, K=5, A=12: 1,658,865).
``two_stream`` MagPlus MER classifier: two narrow ResNet-18-layout streams (apex frame channels,
               flow channels), 256-d projections, gated concatenation, linear head.
               About 1.73 M parameters at widths 16/32/64/128 (3 + 2 channels, K=5: 1,731,477).

Build with :func:`build_network`; the knobs of each kind are in :data:`NET_DEFAULTS`.
"""
from __future__ import annotations

import torch
from torch import nn

from mexflow.models.deep_spec import NET_DEFAULTS

__all__ = ["NET_DEFAULTS", "KINDS", "build_network", "CNN3D", "CNNLSTM", "TwoStream"]

KINDS = tuple(NET_DEFAULTS)


def _ch(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


class _Heads(nn.Module):
    """Emotion head and optional AU head on a shared feature vector."""

    def __init__(self, d: int, n_classes: int, n_aus: int):
        super().__init__()
        self.emotion = nn.Linear(d, n_classes)
        self.au = nn.Linear(d, n_aus) if n_aus > 0 else None

    def forward(self, z):
        return self.emotion(z), (self.au(z) if self.au is not None else None)


def _conv3d_bn(cin, cout, k, s=1):
    pad = tuple(v // 2 for v in k)
    return nn.Sequential(nn.Conv3d(cin, cout, k, stride=s, padding=pad, bias=False),
                         nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class _Res3D(nn.Module):
    """3x3x3 conv (stride s) -> BN -> ReLU -> 1x3x3 conv -> BN, plus a 3x3x3 shortcut conv (stride
    s) -> BN; ReLU after the sum. Padding keeps every size >= 1 (ceil(n / s))."""

    def __init__(self, cin, cout, stride=2):
        super().__init__()
        self.a = _conv3d_bn(cin, cout, (3, 3, 3), stride)
        self.b = nn.Sequential(nn.Conv3d(cout, cout, (1, 3, 3), padding=(0, 1, 1), bias=False),
                               nn.BatchNorm3d(cout))
        self.short = nn.Sequential(nn.Conv3d(cin, cout, (3, 3, 3), stride=stride, padding=1, bias=False),
                                   nn.BatchNorm3d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.b(self.a(x)) + self.short(x))


class CNN3D(nn.Module):
    """Emotion Engine multitask 3D CNN (REFERENCES §1.4).

    Conv3D 8 (3,7,7) s(1,2,2) -> BN -> ReLU -> SpatialDropout3D -> MaxPool (1,3,3) s(1,2,2) ->
    Conv3D 16 (3,5,5) s(1,2,2) -> BN -> ReLU -> residual blocks 32/64/128 (stride 2 in T, H, W) ->
    dropout -> Conv3D 256 (1,3,3) -> BN -> ReLU -> global average pool -> dense 128 -> ReLU ->
    heads. All convolutions are 'same'-padded, so T = 1 and H, W down to 1 work (sizes shrink as
    ceil(n / stride)). ``width`` scales every channel count.
    """

    def __init__(self, in_channels, n_classes, n_aus=0, *, spatial_dropout=0.2, dropout=0.3,
                 width=1.0):
        super().__init__()
        c = [_ch(v, width) for v in (8, 16, 32, 64, 128, 256, 128)]
        self.features = nn.Sequential(
            _conv3d_bn(in_channels, c[0], (3, 7, 7), (1, 2, 2)),
            nn.Dropout3d(spatial_dropout),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            _conv3d_bn(c[0], c[1], (3, 5, 5), (1, 2, 2)),
            _Res3D(c[1], c[2]), _Res3D(c[2], c[3]), _Res3D(c[3], c[4]),
            nn.Dropout(dropout),
            _conv3d_bn(c[4], c[5], (1, 3, 3)),
            nn.AdaptiveAvgPool3d(1), nn.Flatten(),
            nn.Linear(c[5], c[6]), nn.ReLU(inplace=True),
        )
        self.heads = _Heads(c[6], n_classes, n_aus)

    def forward(self, x):
        return self.heads(self.features(x))


def _conv2d_bn(cin, cout, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=s, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CNNLSTM(nn.Module):
    """3D conv stem + time-distributed 2D CNN + bidirectional LSTM (REFERENCES §1.4).

    Conv3D 32 (3,3,3) s(1,2,2) -> BN -> ReLU (T kept) -> per frame, shared weights: conv 64 s2,
    128 s2, 128, 256 s2 (3x3, BN, ReLU each) -> global average pool -> D = 256 per frame ->
    BiLSTM (hidden 256) over T -> [final forward state, final backward state] (512) -> dropout ->
    dense 128 -> ReLU -> heads. ``width`` scales the conv channels, ``hidden`` the LSTM.
    """

    def __init__(self, in_channels, n_classes, n_aus=0, *, dropout=0.3, width=1.0, hidden=256):
        super().__init__()
        c = [_ch(v, width) for v in (32, 64, 128, 128, 256)]
        self.stem = _conv3d_bn(in_channels, c[0], (3, 3, 3), (1, 2, 2))
        self.frame_cnn = nn.Sequential(
            _conv2d_bn(c[0], c[1], 2), _conv2d_bn(c[1], c[2], 2), _conv2d_bn(c[2], c[3]),
            _conv2d_bn(c[3], c[4], 2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.lstm = nn.LSTM(c[4], int(hidden), batch_first=True, bidirectional=True)
        self.top = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * int(hidden), 128), nn.ReLU(inplace=True))
        self.heads = _Heads(128, n_classes, n_aus)

    def forward(self, x):
        z = self.stem(x)  # (N, c, T, h, w)
        n, c, t, h, w = z.shape
        f = self.frame_cnn(z.transpose(1, 2).reshape(n * t, c, h, w)).reshape(n, t, -1)
        _, (h_n, _) = self.lstm(f)  # h_n (2, N, hidden): final forward and backward states
        return self.heads(self.top(torch.cat([h_n[0], h_n[1]], dim=1)))


class _BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.short = (nn.Identity() if stride == 1 and cin == cout else
                      nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.short(x))


class _ResNetStream(nn.Module):
    """ResNet-18 layout (4 stages x 2 BasicBlocks, strides 1/2/2/2), narrow widths, projection to
    ``proj`` dims (Linear + ReLU). stem "small": 3x3 conv stride 1 (for 28-64 px inputs);
    "imagenet": 7x7 conv stride 2 + 3x3 max pool stride 2 (ResNet-18's, for ~224 px)."""

    def __init__(self, cin, widths, proj, stem):
        super().__init__()
        w0 = widths[0]
        if stem == "small":
            layers = [nn.Conv2d(cin, w0, 3, padding=1, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True)]
        else:
            layers = [nn.Conv2d(cin, w0, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(w0),
                      nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1)]
        prev = w0
        for i, w in enumerate(widths):
            layers += [_BasicBlock(prev, w, 1 if i == 0 else 2), _BasicBlock(w, w, 1)]
            prev = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(prev, proj), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class TwoStream(nn.Module):
    """MagPlus MER classifier (REFERENCES §1.3).

    Stream A sees x[:, :frame_channels] (apex frame), stream B x[:, frame_channels:] (flow); T is
    averaged away (T = 1 for the apex_flow bank). Each stream -> ``proj``-d vector;
    concat (2 proj) -> gate g = sigmoid(Linear(concat)) -> fused = g * concat -> dropout -> heads.
    """

    def __init__(self, in_channels, n_classes, n_aus=0, *, dropout=0.2, frame_channels=3,
                 widths=(16, 32, 64, 128), proj=256, stem="small"):
        super().__init__()
        fc = int(frame_channels)
        if not 1 <= fc < in_channels:
            raise ValueError(f"two_stream needs 1 <= frame_channels < in_channels, got frame_channels={fc}, "
                             f"in_channels={in_channels}")
        if stem not in ("small", "imagenet"):
            raise ValueError(f"stem must be 'small' or 'imagenet', got {stem!r}")
        widths = tuple(int(w) for w in widths)
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"widths must be 4 ints >= 1, got {widths!r}")
        self.frame_channels = fc
        self.frame_stream = _ResNetStream(fc, widths, int(proj), stem)
        self.flow_stream = _ResNetStream(in_channels - fc, widths, int(proj), stem)
        self.gate = nn.Linear(2 * int(proj), 2 * int(proj))
        self.drop = nn.Dropout(dropout)
        self.heads = _Heads(2 * int(proj), n_classes, n_aus)

    def forward(self, x):
        x = x.mean(dim=2)  # (N, C, H, W)
        z = torch.cat([self.frame_stream(x[:, :self.frame_channels]),
                       self.flow_stream(x[:, self.frame_channels:])], dim=1)
        return self.heads(self.drop(torch.sigmoid(self.gate(z)) * z))


_CLASSES = {"cnn3d": CNN3D, "cnn_lstm": CNNLSTM, "two_stream": TwoStream}


def build_network(spec: dict, in_channels: int, n_classes: int, n_aus: int) -> nn.Module:
    """Network of ``spec["kind"]`` with the architecture knobs of ``spec`` (defaults in
    :data:`NET_DEFAULTS`; other keys of ``spec`` are ignored here). The AU head exists when
    ``n_aus > 0`` and the spec's ``au_head`` is true."""
    kind = spec.get("kind")
    if kind not in _CLASSES:
        raise ValueError(f"unknown deep model kind {kind!r}; expected one of {list(_CLASSES)}")
    if in_channels < 1 or n_classes < 1 or n_aus < 0:
        raise ValueError(f"bad sizes: in_channels={in_channels}, n_classes={n_classes}, n_aus={n_aus}")
    knobs = {k: spec.get(k, v) for k, v in NET_DEFAULTS[kind].items()}
    au = int(n_aus) if knobs.pop("au_head") else 0
    return _CLASSES[kind](int(in_channels), int(n_classes), au, **knobs)
