"""The fused CPU scoring kernel (protocol/ssim_cpu.cpp) against the PyTorch code of protocol.metrics."""

from __future__ import annotations

import pytest
import torch

from protocol import ssim_cpu
from protocol.cext import LazyExtension, toolchain_present
from protocol.metrics import hr_reference, psnr_ssim_y, psnr_ssim_y_against


def _pair(seed: int, h: int, w: int, noise: int = 30):
    g = torch.Generator().manual_seed(seed)
    hr = torch.randint(0, 256, (1, 3, h, w), generator=g, dtype=torch.uint8)
    sr = (hr.int() + torch.randint(-noise, noise + 1, hr.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    return sr, hr


@pytest.fixture
def kernel():
    if not ssim_cpu.EXTENSION.available():
        if toolchain_present():
            pytest.fail(f"a compiler and ninja are here, yet the fused CPU SSIM did not build: "
                        f"{ssim_cpu.EXTENSION.error}")
        pytest.skip(f"no C++ compiler or ninja here: {ssim_cpu.EXTENSION.error}")


def _torch_path(monkeypatch, sr, hr, border, gray=False, conv="rgb"):
    monkeypatch.setenv(ssim_cpu.ENV_VAR, "torch")
    ref = hr_reference(hr, border, gray=gray, convention=conv)
    assert not ref.y_by_kernel
    out = psnr_ssim_y_against(sr, ref)[0]
    monkeypatch.delenv(ssim_cpu.ENV_VAR)
    return out


# sizes: below one row block, not a multiple of the block (16) or of the 4-wide sums, a typical SR crop;
# gray images under both conventions
@pytest.mark.parametrize("seed,h,w,border,gray,conv", [
    (0, 19, 19, 4, False, "rgb"), (1, 40, 52, 2, False, "rgb"), (2, 57, 23, 3, True, "y"),
    (3, 230, 181, 4, True, "rgb"), (4, 27, 14, 1, False, "rgb"), (5, 520, 392, 4, False, "rgb")])
def test_fused_scores_equal_the_pytorch_code(kernel, monkeypatch, seed, h, w, border, gray, conv):
    sr, hr = _pair(seed, h, w)
    if gray:
        hr = hr[:, :1].expand(-1, 3, -1, -1).contiguous()
    want = _torch_path(monkeypatch, sr, hr, border, gray, conv)
    ref = hr_reference(hr, border, gray=gray, convention=conv)
    assert ref.y_by_kernel
    calls = []
    real = ssim_cpu.scores_u8
    monkeypatch.setattr(ssim_cpu, "scores_u8", lambda *a: calls.append(1) or real(*a))
    got = psnr_ssim_y_against(sr, ref)[0]
    assert calls, "the fused kernel was not used"
    assert abs(got.psnr - want.psnr) < 1e-10 and abs(got.ssim - want.ssim) < 1e-13
    direct = psnr_ssim_y(sr, hr, border, gray=gray, convention=conv)[0]  # the four-map definition
    assert abs(got.psnr - direct.psnr) < 1e-10 and abs(got.ssim - direct.ssim) < 1e-13
    same = psnr_ssim_y_against(hr, ref)[0]  # identical images: both Y from one piece of code
    assert same.psnr == float("inf") and same.ssim == pytest.approx(1.0, abs=1e-12)


def test_fused_scores_do_not_depend_on_the_thread_count(kernel):
    sr, hr = _pair(6, 300, 260)
    ref = hr_reference(hr, 4)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = psnr_ssim_y_against(sr, ref)[0]
        torch.set_num_threads(2)
        two = psnr_ssim_y_against(sr, ref)[0]
    finally:
        torch.set_num_threads(before)
    assert one == two


def test_an_unbuildable_kernel_falls_back_to_the_pytorch_code(monkeypatch):
    sr, hr = _pair(7, 60, 70)
    want = _torch_path(monkeypatch, sr, hr, 2)
    broken = LazyExtension("srbench_never_built", ssim_cpu.EXTENSION.source, "a test kernel")

    def fail():
        raise OSError("no compiler here")

    monkeypatch.setattr(broken, "_build", fail)
    monkeypatch.setattr(ssim_cpu, "EXTENSION", broken)
    with pytest.warns(RuntimeWarning, match="a test kernel could not be built .*no compiler here"):
        ref = hr_reference(hr, 2)
    assert not ref.y_by_kernel
    assert psnr_ssim_y_against(sr, ref)[0] == want
    assert not broken.available() and "no compiler here" in broken.error  # remembered: no second attempt


def test_srbench_ssim_torch_forces_the_pytorch_code(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the kernel was called")

    monkeypatch.setattr(ssim_cpu, "scores_u8", boom)
    monkeypatch.setattr(ssim_cpu, "y_u8", boom)
    monkeypatch.setenv(ssim_cpu.ENV_VAR, "torch")
    sr, hr = _pair(8, 40, 40)
    assert psnr_ssim_y_against(sr, hr_reference(hr, 2))[0].psnr > 0
