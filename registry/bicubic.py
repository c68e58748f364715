"""The bicubic baseline: MATLAB ``imresize`` of the LR back to HR size (PROTOCOL section 2)."""

from __future__ import annotations

import torch
from torch import nn

from protocol.imresize import imresize_matlab
from registry import register
from registry.base import ModelCard, Published


class BicubicUpsampler(nn.Module):
    """Takes RGB on [0, 255] and returns the MATLAB-bicubic upsampled image on [0, 255]."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The input is uint8 data divided by 255; rounding restores the exact integers, so the
        # result equals MATLAB's imresize of the uint8 LR bit for bit before the final rounding.
        return imresize_matlab(x.round(), float(self.scale)).to(x.dtype)


_SRC = "sunny2109/SAFMN figs/efficient_sr.png (SAFMN ICCV2023 efficient-SR table, image; read visually)"
_TABLE = {  # PUBLISHED.tsv, model Bicubic: (scale, dataset) -> (psnr, ssim); computed with gray = 'y'
    (2, "Set5"): (33.66, 0.9299), (2, "Set14"): (30.24, 0.8688), (2, "B100"): (29.56, 0.8431),
    (2, "Urban100"): (26.88, 0.8403), (2, "Manga109"): (30.80, 0.9339),
    (3, "Set5"): (30.39, 0.8682), (3, "Set14"): (27.55, 0.7742), (3, "B100"): (27.21, 0.7385),
    (3, "Urban100"): (24.46, 0.7349), (3, "Manga109"): (26.95, 0.8556),
    (4, "Set5"): (28.42, 0.8104), (4, "Set14"): (26.00, 0.7027), (4, "B100"): (25.96, 0.6675),
    (4, "Urban100"): (23.14, 0.6577), (4, "Manga109"): (24.89, 0.7866),
}

register(ModelCard(
    name="Bicubic",
    family="Bicubic",
    kind="baseline",
    paper=None,
    scales=tuple(range(2, 9)),
    build=BicubicUpsampler,
    input_range=255.0,
    published=tuple(Published(dataset=d, scale=s, psnr=p, ssim=q, source=_SRC, gray="y")
                    for (s, d), (p, q) in _TABLE.items()),
    notes="MATLAB-exact bicubic (Keys a=-0.5, antialiased when shrinking, symmetric edges). The "
          "standard bicubic table was computed with single-channel images' own channel as Y "
          "(--gray y); under the default --gray rgb only Set14 (bridge) moves.",
))
