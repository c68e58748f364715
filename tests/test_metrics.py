"""Metrics against scikit-image (an independent implementation) with the protocol's settings."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from protocol.metrics import psnr_rgb, psnr_ssim_y, y_channel


def _pair(seed: int, h: int = 40, w: int = 52, noise: int = 25):
    g = torch.Generator().manual_seed(seed)
    hr = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
    sr = (hr.int() + torch.randint(-noise, noise + 1, (3, h, w), generator=g)).clamp(0, 255).to(torch.uint8)
    return sr, hr


def _skimage_y(img: torch.Tensor) -> np.ndarray:
    """Y by the BasicSR formula, computed here with numpy."""
    x = img.numpy().astype(np.float64)
    return 16.0 + (65.481 * x[0] + 128.553 * x[1] + 24.966 * x[2]) / 255.0


# 230 rows: the SSIM runs in strips of output rows (metrics.SSIM_STRIP); that case spans several,
# the last one partial
@pytest.mark.parametrize("seed,border,h", [(0, 2, 40), (1, 3, 40), (2, 4, 40), (3, 4, 230)])
def test_psnr_ssim_match_skimage(seed, border, h):
    sr, hr = _pair(seed, h=h)
    ours = psnr_ssim_y(sr, hr, border)[0]
    ys, yh = _skimage_y(sr), _skimage_y(hr)
    c = (slice(border, -border), slice(border, -border))
    ref_psnr = peak_signal_noise_ratio(yh[c], ys[c], data_range=255)
    ref_ssim = structural_similarity(yh[c], ys[c], data_range=255, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, win_size=11)
    assert abs(ours.psnr - ref_psnr) < 1e-6
    assert abs(ours.ssim - ref_ssim) < 1e-6


def test_batched_equals_single():
    pairs = [_pair(s) for s in range(3)]
    sr = torch.stack([p[0] for p in pairs])
    hr = torch.stack([p[1] for p in pairs])
    batched = psnr_ssim_y(sr, hr, 4)
    singles = [psnr_ssim_y(p[0], p[1], 4)[0] for p in pairs]
    for a, b in zip(batched, singles, strict=True):
        assert a.psnr == pytest.approx(b.psnr, abs=1e-9) and a.ssim == pytest.approx(b.ssim, abs=1e-9)


def test_gray_conventions_differ_by_the_y_range():
    # A gray image replicated to RGB: under 'rgb' Y = 16 + v * 219/255, so every error shrinks by
    # 219/255 and PSNR rises by exactly 20 log10(255/219) dB relative to 'y' (Y = v).
    g = torch.Generator().manual_seed(3)
    hr1 = torch.randint(0, 256, (1, 30, 30), generator=g, dtype=torch.uint8)
    sr1 = (hr1.int() + torch.randint(-9, 10, (1, 30, 30), generator=g)).clamp(0, 255).to(torch.uint8)
    hr, sr = hr1.expand(3, -1, -1), sr1.expand(3, -1, -1)
    p_rgb = psnr_ssim_y(sr, hr, 2, gray=True, convention="rgb")[0].psnr
    p_y = psnr_ssim_y(sr, hr, 2, gray=True, convention="y")[0].psnr
    assert p_rgb - p_y == pytest.approx(20 * math.log10(255 / 219), abs=1e-9)
    # and under 'y' the Y of the replicated image is the channel itself
    assert torch.allclose(y_channel(hr, gray=True, convention="y")[0], hr1[0].double(), atol=1e-9)


def test_identical_images_and_errors():
    sr, hr = _pair(5)
    assert math.isinf(psnr_ssim_y(hr, hr, 4)[0].psnr)
    assert psnr_ssim_y(hr, hr, 4)[0].ssim == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        psnr_ssim_y(sr[:, :-1], hr, 4)
    with pytest.raises(ValueError, match="convention"):
        y_channel(hr, convention="lab")


def test_psnr_rgb_matches_skimage():
    sr, hr = _pair(6)
    ref = peak_signal_noise_ratio(hr.numpy()[:, 4:-4, 4:-4], sr.numpy()[:, 4:-4, 4:-4], data_range=255)
    assert psnr_rgb(sr, hr, 4) == pytest.approx(ref, abs=1e-9)


def test_ntire_rgb_psnr_ssim_match_an_independent_computation():
    """The NTIRE ESR rule (their test_demo.py / utils_image.py): RGB PSNR over all channels' squared
    errors, SSIM the mean of the three channels' SSIMs, border = scale; computed here with numpy and
    scikit-image, not with srbench's code."""
    from protocol.metrics import psnr_ssim_rgb

    rng = np.random.default_rng(7)
    hr = rng.integers(0, 256, (3, 48, 40), dtype=np.uint8)
    sr = np.clip(hr.astype(np.int16) + rng.integers(-12, 13, hr.shape), 0, 255).astype(np.uint8)
    b = 4
    a, h = sr[:, b:-b, b:-b].astype(np.float64), hr[:, b:-b, b:-b].astype(np.float64)
    ref_psnr = 20 * np.log10(255.0 / np.sqrt(np.mean((a - h) ** 2)))
    ref_ssim = np.mean([structural_similarity(a[c], h[c], data_range=255, gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False) for c in range(3)])
    (got,) = psnr_ssim_rgb(torch.from_numpy(sr), torch.from_numpy(hr), border=b)
    assert got.psnr == pytest.approx(ref_psnr, abs=1e-9)
    assert got.ssim == pytest.approx(ref_ssim, abs=1e-9)


@pytest.mark.parametrize("seed,border,h,gray,conv", [(0, 2, 40, False, "rgb"), (1, 4, 230, False, "rgb"),
                                                      (2, 3, 40, True, "y"), (3, 4, 120, True, "rgb")])
def test_scores_against_a_precomputed_hr_reference_equal_the_direct_ones(seed, border, h, gray, conv):
    """The worker scores every model's SR against one HRReference per image; the result must be the
    direct psnr_ssim_y's (to float64 rounding), and scikit-image's."""
    from protocol.metrics import hr_reference, psnr_ssim_y_against

    sr, hr = _pair(seed, h=h)
    if gray:
        hr, sr = hr[:1].expand(3, -1, -1).contiguous(), sr
    ref = hr_reference(hr, border, gray=gray, convention=conv)
    got = psnr_ssim_y_against(sr, ref)[0]
    want = psnr_ssim_y(sr, hr, border, gray=gray, convention=conv)[0]
    assert abs(got.psnr - want.psnr) < 1e-10 and abs(got.ssim - want.ssim) < 1e-12
    if not gray:
        ys, yh = _skimage_y(sr), _skimage_y(hr)
        c = (slice(border, -border), slice(border, -border))
        ref_ssim = structural_similarity(yh[c], ys[c], data_range=255, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, win_size=11)
        assert abs(got.ssim - ref_ssim) < 1e-6
    # one reference serves any number of SRs, and is not changed by scoring against it
    y_before = ref.y.clone()
    assert psnr_ssim_y_against(sr, ref)[0] == got
    assert torch.equal(ref.y, y_before)
    with pytest.raises(ValueError, match="differs from the HR reference"):
        psnr_ssim_y_against(sr[:, :-1], ref)
