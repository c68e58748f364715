"""The fused CPU scoring kernel (``ssim_cpu.cpp`` beside this file), used by
:func:`protocol.metrics.hr_reference` and :func:`protocol.metrics.psnr_ssim_y_against`.

``y_u8`` makes the float64 Y of a uint8 RGB image's cropped region (the HR side's); ``scores_u8`` makes
the SR's Y the same way, a block of rows at a time (never a whole-image float64 copy), and returns the
sum of squared Y errors and the sum of the SSIM map against the HR side's precomputed maps: what the
PyTorch code of ``psnr_ssim_y_against`` computes, in one pass per output row instead of ~30
whole-strip tensor operations. The two agree to float64 rounding (~1e-15, tested), and the result does
not depend on the thread count. It is compiled at first use (:class:`protocol.cext.LazyExtension`);
where it cannot be, the PyTorch code runs. ``SRBENCH_SSIM=torch`` forces the PyTorch code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from protocol.cext import ExtensionUnavailable, LazyExtension

ENV_VAR = "SRBENCH_SSIM"
EXTENSION = LazyExtension("srbench_ssim_cpu", Path(__file__).with_name("ssim_cpu.cpp"), "the fused CPU SSIM")


def wanted(a: torch.Tensor) -> bool:
    """Whether the metrics should use the kernel for ``a`` (an image or its Y): a CPU tensor, the kernel
    not forced off, and built."""
    if a.device.type != "cpu":
        return False
    if os.environ.get(ENV_VAR, "").strip().lower() == "torch":
        return False
    return EXTENSION.available()


def y_u8(img: torch.Tensor, border: int, weights, offset: float) -> torch.Tensor:
    """(N, H-2b, W-2b) float64 Y of uint8 RGB (N, 3, H, W), by the kernel (as ``scores_u8`` makes the SR's)."""
    ext = EXTENSION.get()
    return torch.stack([ext.y_u8(img[i].contiguous(), int(border), float(weights[0]), float(weights[1]),
                                 float(weights[2]), float(offset)) for i in range(img.shape[0])])


def scores_u8(sr: torch.Tensor, y: torch.Tensor, mu: torch.Tensor, sq: torch.Tensor, g: torch.Tensor, border: int,
              weights, offset: float, c1: float, c2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (sum of squared Y errors, sum of the SSIM map) of uint8 RGB SR (N, 3, Hs, Ws) against
    the HR side (``y``, ``mu``, ``sq``: (N, H, W) and (N, H-10, W-10) float64), the SR's Y computed
    in the kernel with ``weights`` and ``offset`` over the ``border``-cropped region."""
    ext = EXTENSION.get()
    out = [ext.scores_u8(sr[i].contiguous(), y[i].contiguous(), mu[i].contiguous(), sq[i].contiguous(),
                         g.contiguous(), int(border), float(weights[0]), float(weights[1]), float(weights[2]),
                         float(offset), float(c1), float(c2)) for i in range(sr.shape[0])]
    sse, sums = zip(*out, strict=True)
    return torch.tensor(sse, dtype=torch.float64), torch.tensor(sums, dtype=torch.float64)


__all__ = ["ENV_VAR", "EXTENSION", "ExtensionUnavailable", "wanted", "scores_u8", "y_u8"]
