"""Frozen flow supervisors (mexflow.magnify.supervisors) against known motion.

Ground truth: the synthetic corpus' onset -> apex displacement (`displacement_in_crop`), the same
crops warped by x10 / x20 that displacement, and exact (Fourier) sub-pixel translations of a
real face photo. Errors are end-point errors (EPE, pixels) averaged over the pixels whose true
motion exceeds 0.25 px (x alpha for the magnified pairs), as in
mexflow.synthetic.checks.apex_flow_error.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mexflow.align.geometry import apply_affine, compose_affine, crop_affine, invert_affine
from mexflow.magnify.supervisors import (FlowSupervisor, LucasKanadeFlow, RaftFlow, backward_warp,
                                         make_supervisor, to_gray)
from mexflow.synthetic.ground_truth import displacement_in_crop, track_head_points

MIN_PX = 0.25


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # Many small ops: with another process on the second core, 2 threads ran this file ~7x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def as_tensor(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 or float 0..255 RGB -> (N, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).permute(0, 3, 1, 2) / 255.0


def as_numpy_flow(flow: torch.Tensor) -> np.ndarray:
    """(B, 2, H, W) -> (B, H, W, 2) float64."""
    return flow.detach().permute(0, 2, 3, 1).double().numpy()


def epe(flow: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    return float(np.hypot(*(flow - truth)[mask].T).mean())


def onset_apex(truth, clip):
    numbers = np.asarray(clip.frame_numbers)
    i0, i1 = (int(np.flatnonzero(numbers == f)[0]) for f in (truth.onset, truth.apex))
    return i0, i1


def crop_motion(truth, clip, i1: int) -> np.ndarray:
    """All motion from the onset crop to the apex crop, (S, S, 2) crop pixels: the expression
    (`displacement_in_crop`) plus the rigid head motion that alignment left (apex head pose
    mapped through the apex frame's stored alignment transform)."""
    size = clip.frames.shape[1]
    expression = displacement_in_crop(truth, clip.box, size, truth.onset, truth.apex)
    to_crop = crop_affine(*clip.box, size)
    u = np.stack(np.meshgrid(np.arange(size), np.arange(size)), axis=-1).reshape(-1, 2).astype(np.float64)
    points = apply_affine(invert_affine(to_crop), u)
    moved = track_head_points(truth, points, truth.onset, truth.apex)
    rigid = apply_affine(compose_affine(to_crop, clip.transforms[i1].astype(np.float64)), moved) - u
    return expression + rigid.reshape(size, size, 2)


def warp_forward(img: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """The image b with b(x + disp(x)) = img(x) (forward flow convention), disp (H, W, 2) px:
    b(y) = img(y - u(y)) where u solves u(y) = disp(y - u(y)) (fixed-point iteration).
    Lanczos resampling keeps the sub-pixel phase of fine texture."""
    h, w = disp.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    disp = disp.astype(np.float32)
    u = disp.copy()
    for _ in range(30):
        u = cv2.remap(disp, xs - u[..., 0], ys - u[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.remap(img.astype(np.float32), xs - u[..., 0], ys - u[..., 1], cv2.INTER_LANCZOS4,
                     borderMode=cv2.BORDER_REFLECT_101)


def fourier_translate(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """img (H, W, 3) translated by (dx, dy) px: out(x + d) = img(x), exact for band-limited
    periodic content (borders wrap; compare away from them)."""
    h, w = img.shape[:2]
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    phase = np.exp(-2j * np.pi * (fx * dx + fy * dy))
    spectrum = np.fft.fft2(img.astype(np.float64), axes=(0, 1))
    return np.fft.ifft2(spectrum * phase[..., None], axes=(0, 1)).real


@pytest.fixture(scope="module")
def lk():
    return LucasKanadeFlow()


@pytest.fixture(scope="module")
def face_128():
    from skimage.data import astronaut

    return cv2.resize(astronaut(), (128, 128), interpolation=cv2.INTER_AREA).astype(np.float64)


# ---------------------------------------------------------------- backward_warp and to_gray

def test_backward_warp_zero_flow_is_identity():
    img = torch.rand(2, 3, 11, 17, generator=torch.Generator().manual_seed(0))
    out = backward_warp(img, torch.zeros(2, 2, 11, 17))
    assert torch.allclose(out, img, atol=1e-6)


def test_backward_warp_integer_shift_matches_roll():
    img = torch.rand(2, 3, 12, 15, generator=torch.Generator().manual_seed(1))
    flow = torch.zeros(2, 2, 12, 15)
    flow[:, 0], flow[:, 1] = 3.0, -2.0  # out(y, x) = img(y - 2, x + 3)
    out = backward_warp(img, flow)
    expected = torch.roll(img, shifts=(2, -3), dims=(2, 3))
    assert torch.allclose(out[..., 2:, :-3], expected[..., 2:, :-3], atol=1e-5)


def test_backward_warp_pixel_centres_and_reflection():
    img = torch.rand(1, 1, 6, 9, generator=torch.Generator().manual_seed(2))
    half = torch.zeros(1, 2, 6, 9)
    half[:, 0] = 0.5
    out = backward_warp(img, half)
    # Pixel centres at integers: x + 0.5 is the mean of pixels x and x + 1.
    assert torch.allclose(out[..., :-1], 0.5 * (img[..., :-1] + img[..., 1:]), atol=1e-6)
    left = torch.zeros(1, 2, 6, 9)
    left[:, 0] = -1.0
    # Reflection about the first pixel centre: x = -1 reads pixel 1.
    assert torch.allclose(backward_warp(img, left)[..., 0], img[..., 1], atol=1e-6)


def test_backward_warp_differentiable_in_image_and_flow():
    g = torch.Generator().manual_seed(3)
    img = torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64).requires_grad_()
    # Fractional flows away from integer sample positions, where bilinear is smooth.
    flow = (0.25 + 0.5 * torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(backward_warp, (img, flow))


def test_to_gray_rec601():
    img = torch.eye(3).view(3, 3, 1, 1).expand(3, 3, 2, 2)
    gray = to_gray(img)
    assert gray.shape == (3, 1, 2, 2)
    assert torch.allclose(gray[:, 0, 0, 0], torch.tensor([0.299, 0.587, 0.114]))


# ---------------------------------------------------------------- LK accuracy

def test_lk_real_micro_expression_motion(aligned_small_corpus, lk):
    """Onset -> apex of the synthetic clips (0.5-1 px peaks, sensor noise, JPEG, illumination
    gain, head jitter left by alignment).

    Measured (mean over the 6 clips): LK EPE 0.156 px vs the expression-only truth against
    0.403 px for zero flow (ratio 0.39; Farnebäck 0.160 px); 0.088 px vs all the motion in the
    crops, i.e. with the alignment's residual head motion added (Farnebäck 0.090 px).
    """
    errors, zero, full = [], [], []
    for truth, clip in aligned_small_corpus:
        i0, i1 = onset_apex(truth, clip)
        with torch.no_grad():
            flow = as_numpy_flow(lk(as_tensor(clip.frames[[i0]]), as_tensor(clip.frames[[i1]])))[0]
        disp = displacement_in_crop(truth, clip.box, clip.frames.shape[1], truth.onset, truth.apex)
        moving = np.hypot(disp[..., 0], disp[..., 1]) > MIN_PX
        errors.append(epe(flow, disp, moving))
        zero.append(float(np.hypot(*disp[moving].T).mean()))
        full.append(epe(flow, crop_motion(truth, clip, i1), moving))
    mean_error, mean_zero, mean_full = np.mean(errors), np.mean(zero), np.mean(full)
    assert mean_error < 0.5 * mean_zero, (errors, zero)
    assert mean_error < 0.2, errors
    assert mean_full < 0.12, full


@pytest.mark.parametrize("alpha", [10, 20])
def test_lk_magnified_motion(aligned_small_corpus, lk, alpha):
    """Onset crops warped by alpha x the true apex field (peaks ~10-21 px).

    Measured mean EPE / mean |alpha truth|: 0.087 / 4.03 px (2.2 %) at alpha 10,
    0.214 / 8.05 px (2.7 %) at alpha 20 (worst clip 0.43 px, peak 17 px). Farnebäck (the
    Emotion Engine preset) gets 0.56 and 1.55 px on the same pairs.
    """
    errors, sizes = [], []
    for truth, clip in aligned_small_corpus:
        i0, _ = onset_apex(truth, clip)
        onset = clip.frames[i0]
        disp = displacement_in_crop(truth, clip.box, onset.shape[0], truth.onset, truth.apex) * alpha
        moved = warp_forward(onset, disp)
        with torch.no_grad():
            flow = as_numpy_flow(lk(as_tensor(onset[None]), as_tensor(moved[None])))[0]
        moving = np.hypot(disp[..., 0], disp[..., 1]) > MIN_PX * alpha
        errors.append(epe(flow, disp, moving))
        sizes.append(float(np.hypot(*disp[moving].T).mean()))
    assert np.mean(errors) < 0.04 * np.mean(sizes), (errors, sizes)


@pytest.mark.parametrize("dx, dy, blur, tol", [
    (0.37, -0.21, 0.0, 0.02), (-0.08, 0.13, 0.0, 0.02), (9.3, -6.6, 0.0, 0.05),
    (0.37, -0.21, 1.0, 0.002), (-0.08, 0.13, 1.0, 0.002)])
def test_lk_translation_of_a_face_photo(face_128, lk, dx, dy, blur, tol):
    """Exact (Fourier) translations of the astronaut photo at 128 px, mean flow over the interior.

    Measured errors of the mean: raw photo 0.014 px at (0.37, -0.21), 0.009 at (-0.08, 0.13),
    0.020 at (9.3, -6.6); the few-% sub-pixel bias comes from near-Nyquist texture (B-spline vs
    band-limited resampling): blurred by sigma 1 px it drops to 0.0004 and 0.0006 px.
    """
    img = cv2.GaussianBlur(face_128, (0, 0), blur) if blur else face_128
    moved = fourier_translate(img, dx, dy)
    with torch.no_grad():
        flow = as_numpy_flow(lk(as_tensor(img[None]), as_tensor(moved[None])))[0]
    inner = flow[24:-24, 24:-24].reshape(-1, 2)
    mean = inner.mean(axis=0)
    assert np.hypot(mean[0] - dx, mean[1] - dy) < tol, mean
    assert np.median(np.hypot(inner[:, 0] - dx, inner[:, 1] - dy)) < 0.05


# ---------------------------------------------------------------- frozen, differentiable

def test_lk_is_frozen(lk):
    assert isinstance(lk, FlowSupervisor)
    lk.train()
    assert lk.training is False
    lk.train(True)
    assert not lk.training and all(not m.training for m in lk.modules())
    assert all(not p.requires_grad for p in lk.parameters())


def test_gradients_reach_the_generated_frame(face_128):
    sup = LucasKanadeFlow()
    img0 = as_tensor(face_128[None, :64, :64])
    img1 = as_tensor(fourier_translate(face_128, 0.6, -0.3)[None, :64, :64]).clamp(0, 1)
    target = torch.zeros(1, 2, 64, 64)
    target[:, 0] = 1.2  # as if alpha = 2 on the x motion
    y = img1.clone().requires_grad_()
    loss = (sup(img0, y) - target).abs().mean()
    loss.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
    assert y.grad.norm() > 1e-6
    # The gradient points somewhere useful: a small step along it lowers the loss.
    with torch.no_grad():
        step = y - 1e-3 * y.grad / y.grad.abs().max()
        assert (sup(img0, step) - target).abs().mean() < loss


def test_lk_input_checks(lk):
    with pytest.raises(ValueError):
        lk(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))
    with pytest.raises(ValueError):
        lk(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))


def test_pyramid_levels(lk):
    assert lk.pyramid_levels(224, 224) == 5  # coarsest 14 px
    assert lk.pyramid_levels(96, 128) == 4  # coarsest 12 x 16
    assert lk.pyramid_levels(8, 8) == 1
    assert LucasKanadeFlow(levels=2).pyramid_levels(224, 224) == 2


def test_lk_odd_sizes_and_batches(face_128):
    """Sizes that do not halve evenly are padded and cropped back; samples stay independent."""
    sup = LucasKanadeFlow()
    a = as_tensor(face_128[None, :61, :75])
    b1 = as_tensor(fourier_translate(face_128, 0.4, 0.0)[None, :61, :75])
    b2 = as_tensor(fourier_translate(face_128, 0.0, -0.4)[None, :61, :75])
    with torch.no_grad():
        both = sup(torch.cat((a, a)), torch.cat((b1, b2)))
        single = sup(a, b2)
    assert both.shape == (2, 2, 61, 75)
    assert torch.allclose(both[1:], single, atol=1e-4)
    centre = both[..., 16:-16, 16:-16].mean(dim=(2, 3))
    assert torch.allclose(centre, torch.tensor([[0.4, 0.0], [0.0, -0.4]]), atol=0.05), centre


# ---------------------------------------------------------------- factory and RAFT

def test_make_supervisor():
    sup = make_supervisor({"kind": "lk", "iterations": 2, "window_sigma": 2.5})
    assert isinstance(sup, LucasKanadeFlow) and sup.iterations == 2 and sup.window_sigma == 2.5
    with pytest.raises(ValueError, match="lk.*raft|raft.*lk"):
        make_supervisor({"kind": "farneback"})
    with pytest.raises(ValueError):
        make_supervisor({"iterations": 2})


def test_raft_without_torchvision_names_lk(tmp_path):
    try:
        from torchvision.models.optical_flow import raft_small  # noqa: F401
    except Exception:
        with pytest.raises(ImportError, match="lk"):
            RaftFlow(tmp_path / "raft.pth")
        with pytest.raises(ImportError, match="lk"):
            make_supervisor({"kind": "raft", "weights": tmp_path / "raft.pth"})
    else:
        pytest.skip("torchvision imports here; see test_raft_with_torchvision")


class _FakeRaft(torch.nn.Module):
    """Stands in for torchvision's RAFT: checks its input contract and returns a list of
    predictions whose last one is (mean channel of image1, mean channel of image2)."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.norm = torch.nn.BatchNorm2d(1)  # train vs eval would matter here
        self.seen = []

    def forward(self, image1, image2, num_flow_updates=12):
        assert image1.shape[-2] % 8 == 0 and image1.shape[-1] % 8 == 0
        self.seen.append((image1.detach().clone(), num_flow_updates, self.training))
        last = torch.cat((image1.mean(1, keepdim=True), image2.mean(1, keepdim=True)), dim=1) * self.scale
        return [torch.zeros_like(last)] * (num_flow_updates - 1) + [last]


def test_raft_input_contract_with_a_stand_in(tmp_path, monkeypatch):
    """RaftFlow's own code on a stand-in network (torchvision's RAFT cannot run here): weights
    from the file, eval mode, frozen, inputs in [-1, 1] padded to multiples of 8 by edge
    replication, the last prediction cropped back, gradients to the images."""
    import sys
    import types

    built = []
    fake = types.ModuleType("torchvision.models.optical_flow")
    fake.raft_large = lambda weights=None, progress=True: built.append(_FakeRaft()) or built[-1]
    fake.raft_small = fake.raft_large
    monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))
    monkeypatch.setitem(sys.modules, "torchvision.models", types.ModuleType("torchvision.models"))
    monkeypatch.setitem(sys.modules, "torchvision.models.optical_flow", fake)
    state = _FakeRaft().state_dict()
    state["scale"] = torch.tensor(2.0)
    torch.save(state, tmp_path / "raft.pth")

    sup = make_supervisor({"kind": "raft", "weights": tmp_path / "raft.pth", "iterations": 7})
    net = built[-1]
    sup.train()
    assert not sup.training and not net.training
    assert all(not p.requires_grad for p in sup.parameters())
    assert float(net.scale) == 2.0
    img0 = torch.rand(2, 3, 30, 45)
    y = torch.rand(2, 3, 30, 45, requires_grad=True)
    flow = sup(img0, y)
    seen, updates, training = net.seen[-1]
    assert updates == 7 and not training
    assert seen.shape == (2, 3, 32, 48)
    assert torch.allclose(seen[..., :30, :45], 2 * img0 - 1)
    assert torch.equal(seen[..., 30:, :45], seen[..., 29:30, :45].expand(-1, -1, 2, -1))
    assert flow.shape == (2, 2, 30, 45)
    assert torch.allclose(flow[:, 0], 2 * (2 * img0 - 1).mean(1), atol=1e-6)
    flow[:, 1].sum().backward()
    assert torch.allclose(y.grad, torch.full_like(y, 2 * 2 / 3), atol=1e-6)


def test_raft_with_torchvision(tmp_path):
    """Where torchvision works (GPU machines): load a state dict from a file, stay frozen, keep
    the input size, pass gradients to the images. Random weights: no accuracy claim."""
    optical_flow = pytest.importorskip("torchvision.models.optical_flow")
    path = tmp_path / "raft_small.pth"
    torch.save(optical_flow.raft_small(weights=None).state_dict(), path)
    sup = RaftFlow(path, small=True, iterations=2)
    sup.train()
    assert not sup.training and all(not p.requires_grad for p in sup.parameters())
    img0 = torch.rand(1, 3, 60, 84)
    y = torch.rand(1, 3, 60, 84, requires_grad=True)
    flow = sup(img0, y)
    assert flow.shape == (1, 2, 60, 84)
    flow.abs().mean().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
