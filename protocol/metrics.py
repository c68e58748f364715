"""Y-channel PSNR and SSIM as the SR literature computes them (PROTOCOL section 3).

Inputs are uint8 RGB tensors (N, 3, H, W) or (3, H, W) on any device; everything is computed there in
float64 on [0, 255]. ``gray`` marks single-channel sources (replicated to RGB when read); the
``convention`` decides their Y:
- ``rgb``: Y by the BasicSR formula, as for any RGB image (what cv2/BasicSR readers give);
- ``y``: the single channel itself is Y (MATLAB-era scripts). For the replicated HR that is the
  channel value; for a model's 3-channel output it is the full-range luma 0.299 R + 0.587 G + 0.114 B,
  which equals the channel value on a gray image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from protocol import GRAY_CONVENTIONS, Y_OFFSET, Y_WEIGHTS, ssim_cpu

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
DATA_RANGE = 255.0
# SSIM output rows computed at a time. 96 rows of a 1024-wide image (~100k float64 per map) measured
# fastest on the 2-core EPYC the canonical results come from, with 1 and 2 threads: ~25 % faster than
# 32 rows (too little work per op for torch's threads) and than 256+ rows (out of the L2/L3 caches).
SSIM_STRIP = 96


@dataclass(frozen=True)
class Scores:
    psnr: float
    ssim: float


def _batched(x: torch.Tensor) -> torch.Tensor:
    return x[None] if x.dim() == 3 else x


def y_coefficients(gray: bool = False, convention: str = "rgb") -> tuple[list[float], float]:
    """The weights of R, G, B and the offset of the Y that :func:`y_channel` computes."""
    if convention not in GRAY_CONVENTIONS:
        raise ValueError(f"gray convention must be one of {GRAY_CONVENTIONS}, not {convention!r}")
    if gray and convention == "y":
        # Full-range luma: the BasicSR weights rescaled to sum to 1 (65.481+128.553+24.966 = 219).
        return [v * (255.0 / 219.0) for v in Y_WEIGHTS], 0.0
    return list(Y_WEIGHTS), Y_OFFSET


def y_channel(img: torch.Tensor, gray: bool = False, convention: str = "rgb") -> torch.Tensor:
    """(N, 3, H, W) uint8/float RGB in [0, 255] -> (N, H, W) float64 Y."""
    if convention not in GRAY_CONVENTIONS:
        raise ValueError(f"gray convention must be one of {GRAY_CONVENTIONS}, not {convention!r}")
    x = _batched(img)
    w, offset = y_coefficients(gray, convention)
    # Channel by channel into one float64 buffer (the other channels are promoted on the fly): a fresh
    # image-sized allocation costs its page faults, and this is the only one.
    y = x[:, 0].to(torch.float64).mul_(w[0])
    y.add_(x[:, 1], alpha=w[1]).add_(x[:, 2], alpha=w[2])
    return y.add_(offset) if offset else y


def crop_border(y: torch.Tensor, border: int) -> torch.Tensor:
    if border <= 0:
        return y
    if y.shape[-1] <= 2 * border or y.shape[-2] <= 2 * border:
        raise ValueError(f"image {y.shape[-1]}x{y.shape[-2]} is too small to crop {border} px per border")
    return y[..., border:-border, border:-border]


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of two (N, H, W) float64 arrays on [0, 255]; inf when identical."""
    mse = torch.sub(a, b).square_().flatten(1).mean(1)
    return 10.0 * torch.log10(DATA_RANGE**2 / mse)


def _gaussian_1d(device: torch.device) -> torch.Tensor:
    r = torch.arange(SSIM_WINDOW, dtype=torch.float64, device=device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(r**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, g: torch.Tensor, strip: int = SSIM_STRIP) -> torch.Tensor:
    """Separable Gaussian filter of (..., H, W) over the valid region only (no padding).

    Written as weighted sums of shifted views, accumulated in place ``strip`` output rows at a time (so
    the working set stays in cache): torch's float64 conv2d on the CPU has no fast path and is ~100x
    slower, and the 2-D Gaussian is exactly the outer product of the 1-D one.
    """
    k = g.numel()
    h, w = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    gl = [float(v) for v in g]
    out = x.new_empty(x.shape[:-2] + (h, w))
    for r0 in range(0, h, strip):
        r1 = min(h, r0 + strip)
        rows = x[..., r0:r1, :] * gl[0]
        for i in range(1, k):
            rows.add_(x[..., r0 + i:r1 + i, :], alpha=gl[i])
        o = out[..., r0:r1, :]
        torch.mul(rows[..., 0:w], gl[0], out=o)
        for j in range(1, k):
            o.add_(rows[..., j:j + w], alpha=gl[j])
    return out


def ssim(a: torch.Tensor, b: torch.Tensor, strip: int = SSIM_STRIP) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) of (N, H, W) float64 on [0, 255].

    Gaussian 11x11, sigma 1.5, filtered over the valid region only (no padding), population
    (biased) variances, mean of the SSIM map. Four filtered maps, not five: the denominator needs
    only sigma_x^2 + sigma_y^2, i.e. the filter of a^2 + b^2. Computed ``strip`` output rows at a
    time, from the products to the map's sum, so the working set stays in the CPU's cache (this and
    the four maps make the metrics ~5x cheaper than the direct five-map form; same values to 1e-15).
    """
    if a.shape[-1] < SSIM_WINDOW or a.shape[-2] < SSIM_WINDOW:
        raise ValueError(f"image {a.shape[-1]}x{a.shape[-2]} is smaller than the {SSIM_WINDOW}px SSIM window")
    g = _gaussian_1d(a.device)
    k = g.numel()
    h, w = a.shape[-2] - k + 1, a.shape[-1] - k + 1
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    total = a.new_zeros(a.shape[:-2])
    maps = a.new_empty((4,) + a.shape[:-2] + (strip + k - 1, a.shape[-1]))  # x, y, x^2 + y^2, xy
    for r0 in range(0, h, strip):
        n = min(h, r0 + strip) - r0 + k - 1
        xa, xb, src = a[..., r0:r0 + n, :], b[..., r0:r0 + n, :], maps[..., :n, :]
        src[0].copy_(xa)
        src[1].copy_(xb)
        torch.mul(xa, xa, out=src[2]).addcmul_(xb, xb)
        torch.mul(xa, xb, out=src[3])
        mu_x, mu_y, f_sq, f_xy = _filter_valid(src, g, strip=strip)
        # num = (2 mu_x mu_y + c1)(2 cov + c2), den = (mu_x^2 + mu_y^2 + c1)(var_x + var_y + c2), in place
        mxy = mu_x * mu_y
        m_sq = torch.mul(mu_x, mu_x).addcmul_(mu_y, mu_y)
        cov2 = f_xy.sub_(mxy).mul_(2).add_(c2)
        var2 = f_sq.sub_(m_sq).add_(c2)
        num = mxy.mul_(2).add_(c1).mul_(cov2)
        den = m_sq.add_(c1).mul_(var2)
        total += num.div_(den).sum(dim=(-2, -1))
    return total / (h * w)


@dataclass(frozen=True, eq=False)
class HRReference:
    """The HR side of Y PSNR/SSIM, computed once per image and reused for every model's SR of it
    (:func:`psnr_ssim_y_against`): the cropped float64 Y and its two Gaussian-filtered maps."""

    y: torch.Tensor  # (N, H, W) float64 Y of the border-cropped HR
    mu: torch.Tensor  # (N, H-10, W-10) its filtered mean over the valid region
    sq: torch.Tensor  # (N, H-10, W-10) the filtered Y^2 (second moment)
    border: int
    gray: bool
    convention: str
    # y was made by the fused CPU kernel: SRs are then scored by it too, so that both sides' Y come from
    # one piece of code (identical images: identical Y, infinite PSNR), else by the PyTorch code
    y_by_kernel: bool = False

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.y, self.mu, self.sq))


def hr_reference(hr: torch.Tensor, border: int, gray: bool = False, convention: str = "rgb") -> HRReference:
    """The :class:`HRReference` of uint8 RGB HR (N, 3, H, W) or (3, H, W), ``border`` px cropped."""
    hr = _batched(hr)
    by_kernel = hr.dtype == torch.uint8 and ssim_cpu.wanted(hr) and min(hr.shape[-2:]) > 2 * border
    if by_kernel:
        y = ssim_cpu.y_u8(hr, border, *y_coefficients(gray, convention))
    else:
        y = y_channel(crop_border(hr, border), gray, convention)
    if y.shape[-1] < SSIM_WINDOW or y.shape[-2] < SSIM_WINDOW:
        raise ValueError(f"image {y.shape[-1]}x{y.shape[-2]} is smaller than the {SSIM_WINDOW}px SSIM window")
    g = _gaussian_1d(y.device)
    return HRReference(y, _filter_valid(y, g), _filter_valid(y * y, g), border, gray, convention, by_kernel)


def ssim_against(a: torch.Tensor, ref: HRReference, strip: int = SSIM_STRIP) -> torch.Tensor:
    """:func:`ssim` of (N, H, W) float64 ``a`` against ``ref.y``, with the HR side's filtered maps
    taken from ``ref``: three filtered maps per call instead of four. Equal to ``ssim(a, ref.y)`` up
    to float64 rounding (the filter of a^2 + b^2 is computed as the sum of the two filters)."""
    b = ref.y
    if a.shape != b.shape:
        raise ValueError(f"SR Y shape {tuple(a.shape)} differs from the HR reference's {tuple(b.shape)}")
    g = _gaussian_1d(a.device)
    k = g.numel()
    h = a.shape[-2] - k + 1
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    total = a.new_zeros(a.shape[:-2])
    maps = a.new_empty((3,) + a.shape[:-2] + (strip + k - 1, a.shape[-1]))  # x, x^2, xy
    for r0 in range(0, h, strip):
        r1 = min(h, r0 + strip)
        n = r1 - r0 + k - 1
        xa, xb, src = a[..., r0:r0 + n, :], b[..., r0:r0 + n, :], maps[..., :n, :]
        src[0].copy_(xa)
        torch.mul(xa, xa, out=src[1])
        torch.mul(xa, xb, out=src[2])
        mu_x, f_xx, f_xy = _filter_valid(src, g, strip=strip)
        mu_y, f_yy = ref.mu[..., r0:r1, :], ref.sq[..., r0:r1, :]
        # as in ssim(): num = (2 mu_x mu_y + c1)(2 cov + c2), den = (mu_x^2 + mu_y^2 + c1)(var_x + var_y + c2)
        mxy = mu_x * mu_y
        m_sq = torch.mul(mu_x, mu_x).addcmul_(mu_y, mu_y)
        cov2 = f_xy.sub_(mxy).mul_(2).add_(c2)
        var2 = f_xx.add_(f_yy).sub_(m_sq).add_(c2)
        num = mxy.mul_(2).add_(c1).mul_(cov2)
        den = m_sq.add_(c1).mul_(var2)
        total += num.div_(den).sum(dim=(-2, -1))
    return total / (h * (a.shape[-1] - k + 1))


def psnr_ssim_y_against(sr: torch.Tensor, ref: HRReference) -> list[Scores]:
    """:func:`psnr_ssim_y` of uint8 RGB SR against a precomputed :class:`HRReference`."""
    sr = _batched(sr)
    want = ref.y.shape[-2] + 2 * ref.border, ref.y.shape[-1] + 2 * ref.border
    if tuple(sr.shape[-2:]) != want or sr.shape[0] != ref.y.shape[0]:
        raise ValueError(f"SR shape {tuple(sr.shape)} differs from the HR reference's "
                         f"({ref.y.shape[0]}, 3, {want[0]}, {want[1]})")
    if ref.y_by_kernel and sr.dtype == torch.uint8 and ssim_cpu.wanted(ref.y):  # Y, PSNR, SSIM in one pass
        w, offset = y_coefficients(ref.gray, ref.convention)
        sse, sums = ssim_cpu.scores_u8(sr, ref.y, ref.mu, ref.sq, _gaussian_1d(sr.device), ref.border, w, offset,
                                       (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2)
        k = SSIM_WINDOW - 1
        p = 10.0 * torch.log10(DATA_RANGE**2 / (sse / (ref.y.shape[-2] * ref.y.shape[-1])))
        s = sums / ((ref.y.shape[-2] - k) * (ref.y.shape[-1] - k))
    else:
        ys = y_channel(crop_border(sr, ref.border), ref.gray, ref.convention)
        p, s = psnr(ys, ref.y), ssim_against(ys, ref)
    return [Scores(float(pi), float(si)) for pi, si in zip(p.tolist(), s.tolist(), strict=True)]


def psnr_ssim_y(sr: torch.Tensor, hr: torch.Tensor, border: int, gray: bool = False,
                convention: str = "rgb") -> list[Scores]:
    """Y-channel PSNR/SSIM of uint8 RGB SR vs HR, ``border`` px cropped from every side."""
    sr, hr = _batched(sr), _batched(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"SR shape {tuple(sr.shape)} differs from HR shape {tuple(hr.shape)}")
    # crop first: Y is computed for the scored pixels only
    ys = y_channel(crop_border(sr, border), gray, convention)
    yh = y_channel(crop_border(hr, border), gray, convention)
    p, s = psnr(ys, yh), ssim(ys, yh)
    return [Scores(float(pi), float(si)) for pi, si in zip(p.tolist(), s.tolist(), strict=True)]


def psnr_ssim_rgb(sr: torch.Tensor, hr: torch.Tensor, border: int) -> list[Scores]:
    """RGB PSNR/SSIM of uint8 SR vs HR, ``border`` px cropped: the NTIRE ESR challenges' own rule
    (their ``test_demo.py``: PSNR over all three channels' squared errors in float64; SSIM the mean of
    the three channels' SSIMs, each as :func:`ssim`)."""
    sr, hr = _batched(sr), _batched(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"SR shape {tuple(sr.shape)} differs from HR shape {tuple(hr.shape)}")
    a = crop_border(sr, border).to(torch.float64)
    b = crop_border(hr, border).to(torch.float64)
    p = psnr(a.flatten(1, 2), b.flatten(1, 2))  # (N, 3H, W): the mean over every channel's pixels
    s = torch.stack([ssim(a[:, c], b[:, c]) for c in range(a.shape[1])], 1).mean(1)
    return [Scores(float(pi), float(si)) for pi, si in zip(p.tolist(), s.tolist(), strict=True)]


def psnr_rgb(sr: torch.Tensor, hr: torch.Tensor, border: int) -> float:
    """RGB PSNR on uint8 with a border crop: the NTIRE ESR report convention (for comparison only)."""
    a = crop_border(_batched(sr).to(torch.float64), border)
    b = crop_border(_batched(hr).to(torch.float64), border)
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(DATA_RANGE**2 / mse)
