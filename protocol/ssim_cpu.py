"""The fused CPU SSIM (``ssim_cpu.cpp`` beside this file), used by :func:`protocol.metrics.ssim_against`.

It computes exactly what the PyTorch code of :func:`~protocol.metrics.ssim_against` computes (the
SSIM map's sum for one image, from the SR's Y and the HR side's precomputed maps), in one pass per
output row instead of ~30 whole-strip tensor operations, in float64 throughout; the two agree to float64
rounding (~1e-15, tested), and the result does not depend on the thread count. It is compiled at
first use (:class:`protocol.cext.LazyExtension`); where it cannot be, the PyTorch code runs.
``SRBENCH_SSIM=torch`` forces the PyTorch code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from protocol.cext import ExtensionUnavailable, LazyExtension

ENV_VAR = "SRBENCH_SSIM"
EXTENSION = LazyExtension("srbench_ssim_cpu", Path(__file__).with_name("ssim_cpu.cpp"), "the fused CPU SSIM")


def wanted(a: torch.Tensor) -> bool:
    """Whether ``ssim_against`` should use the kernel for ``a``: CPU float64, not forced off, built."""
    if a.device.type != "cpu" or a.dtype != torch.float64:
        return False
    if os.environ.get(ENV_VAR, "").strip().lower() == "torch":
        return False
    return EXTENSION.available()


def ssim_sums(a: torch.Tensor, b: torch.Tensor, mu_b: torch.Tensor, sq_b: torch.Tensor, g: torch.Tensor,
              c1: float, c2: float) -> torch.Tensor:
    """Per-image sums of the SSIM map of (N, H, W) ``a`` against ``b`` with its filtered maps."""
    ext = EXTENSION.get()
    sums = [ext.ssim_sum(a[i].contiguous(), b[i].contiguous(), mu_b[i].contiguous(), sq_b[i].contiguous(),
                         g.contiguous(), float(c1), float(c2)) for i in range(a.shape[0])]
    return torch.tensor(sums, dtype=torch.float64)


__all__ = ["ENV_VAR", "EXTENSION", "ExtensionUnavailable", "wanted", "ssim_sums"]
