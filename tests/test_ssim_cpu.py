"""The fused CPU SSIM kernel against the PyTorch code of protocol.metrics.ssim_against."""

from __future__ import annotations

import os

import pytest
import torch

from protocol import metrics, ssim_cpu
from protocol.cext import LazyExtension
from protocol.metrics import crop_border, hr_reference, ssim, ssim_against, y_channel


def _pair(seed: int, h: int, w: int, noise: int = 30):
    g = torch.Generator().manual_seed(seed)
    hr = torch.randint(0, 256, (1, 3, h, w), generator=g, dtype=torch.uint8)
    sr = (hr.int() + torch.randint(-noise, noise + 1, hr.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    return sr, hr


@pytest.fixture
def kernel():
    if not ssim_cpu.EXTENSION.available():
        if os.environ.get("SRBENCH_REQUIRE_KERNELS"):  # CI: the build must work there
            pytest.fail(f"the fused CPU SSIM did not build: {ssim_cpu.EXTENSION.error}")
        pytest.skip(f"the fused CPU SSIM did not build here: {ssim_cpu.EXTENSION.error}")


def _both(ys, ref, monkeypatch):
    monkeypatch.setenv(ssim_cpu.ENV_VAR, "torch")
    t = ssim_against(ys, ref)
    monkeypatch.delenv(ssim_cpu.ENV_VAR)
    return t, ssim_against(ys, ref)


# sizes: below one row block, not a multiple of the block (16) or the 4-wide sums, a typical SR crop
@pytest.mark.parametrize("seed,h,w", [(0, 11, 11), (1, 40, 52), (2, 57, 23), (3, 230, 181), (4, 512, 384)])
def test_kernel_equals_the_pytorch_code(kernel, monkeypatch, seed, h, w):
    sr, hr = _pair(seed, h + 8, w + 8)
    ref = hr_reference(hr, 4)
    ys = y_channel(crop_border(sr, 4))
    torch_path, fused = _both(ys, ref, monkeypatch)
    assert torch.allclose(fused, torch_path, rtol=0, atol=1e-13)
    assert abs(float(fused[0]) - float(ssim(ys, ref.y)[0])) < 1e-13  # and the direct four-map SSIM


def test_kernel_result_does_not_depend_on_the_thread_count(kernel):
    sr, hr = _pair(5, 300, 260)
    ref = hr_reference(hr, 4)
    ys = y_channel(crop_border(sr, 4))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ssim_against(ys, ref)
        torch.set_num_threads(2)
        two = ssim_against(ys, ref)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)


def test_an_unbuildable_kernel_falls_back_to_the_pytorch_code(monkeypatch):
    sr, hr = _pair(6, 60, 70)
    ref = hr_reference(hr, 2)
    ys = y_channel(crop_border(sr, 2))
    monkeypatch.setenv(ssim_cpu.ENV_VAR, "torch")
    want = ssim_against(ys, ref)
    monkeypatch.delenv(ssim_cpu.ENV_VAR)
    broken = LazyExtension("srbench_never_built", ssim_cpu.EXTENSION.source, "a test kernel")

    def fail():
        raise OSError("no compiler here")

    monkeypatch.setattr(broken, "_build", fail)
    monkeypatch.setattr(ssim_cpu, "EXTENSION", broken)
    with pytest.warns(RuntimeWarning, match="a test kernel could not be built .*no compiler here"):
        got = ssim_against(ys, ref)
    assert torch.equal(got, want)
    assert not broken.available() and "no compiler here" in broken.error  # remembered: no second attempt


def test_srbench_ssim_torch_forces_the_pytorch_code(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the kernel was called")

    monkeypatch.setattr(ssim_cpu, "ssim_sums", boom)
    monkeypatch.setenv(ssim_cpu.ENV_VAR, "torch")
    sr, hr = _pair(7, 40, 40)
    ref = hr_reference(hr, 2)
    assert metrics.ssim_against(y_channel(crop_border(sr, 2)), ref).shape == (1,)


@pytest.mark.parametrize("seed,h,w,border,gray,conv", [(8, 40, 52, 2, False, "rgb"), (9, 57, 23, 3, True, "y"),
                                                        (10, 230, 181, 4, True, "rgb"), (11, 27, 14, 1, False, "rgb")])
def test_fused_y_psnr_ssim_from_uint8_equal_the_pytorch_code(kernel, monkeypatch, seed, h, w, border, gray, conv):
    """psnr_ssim_y_against on a uint8 SR: the kernel makes the Y itself and sums the squared errors."""
    from protocol.metrics import psnr_ssim_y_against

    sr, hr = _pair(seed, h, w)
    if gray:
        hr = hr[:, :1].expand(-1, 3, -1, -1).contiguous()
    ref = hr_reference(hr, border, gray=gray, convention=conv)
    monkeypatch.setenv(ssim_cpu.ENV_VAR, "torch")
    want = psnr_ssim_y_against(sr, ref)[0]
    monkeypatch.delenv(ssim_cpu.ENV_VAR)
    calls = []
    real = ssim_cpu.scores_u8
    monkeypatch.setattr(ssim_cpu, "scores_u8", lambda *a: calls.append(1) or real(*a))
    got = psnr_ssim_y_against(sr, ref)[0]
    assert calls, "the fused kernel was not used"
    assert abs(got.psnr - want.psnr) < 1e-10 and abs(got.ssim - want.ssim) < 1e-13
    same = psnr_ssim_y_against(hr, ref)[0]  # identical images: PSNR inf, SSIM 1
    assert same.psnr == float("inf") and same.ssim == pytest.approx(1.0, abs=1e-12)
