"""Colour conversion of the protocol (PROTOCOL section 3), on [0, 1] float tensors (N, 3, H, W).

Used by Y-only networks (``SRModel`` with ``colour='y'``); the metrics' own Y is in
:mod:`protocol.metrics`, in float64 on [0, 255].
"""

from __future__ import annotations

import torch

# BasicSR's Y formula, in [0, 1] units (PROTOCOL section 3).
_Y_W = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """RGB [0, 1] -> YCbCr [0, 1] (ITU-R BT.601, 'studio swing' as MATLAB's rgb2ycbcr)."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    y = 16 / 255 + _Y_W[0] * r + _Y_W[1] * g + _Y_W[2] * b
    cb = 128 / 255 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 / 255 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return torch.cat([y, cb, cr], 1)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr`."""
    y, cb, cr = x[:, 0:1] - 16 / 255, x[:, 1:2] - 128 / 255, x[:, 2:3] - 128 / 255
    r = 255 / 219 * y + 255 / 224 * 1.402 * cr
    g = 255 / 219 * y - 255 / 224 * 1.772 * 0.114 / 0.587 * cb - 255 / 224 * 1.402 * 0.299 / 0.587 * cr
    b = 255 / 219 * y + 255 / 224 * 1.772 * cb
    return torch.cat([r, g, b], 1)
