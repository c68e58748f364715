"""Blocks shared by srbench's NTIRE 2025 ESR Mamba entries (MambaIRv2-light, team40; PFVM, team34).

Both entries come from the MambaIR code base, whose state-space layers keep the parameters of ``K``
scan directions stacked (``x_proj_weight`` (K, R + 2N, D), ``dt_projs_weight`` (K, D, R),
``dt_projs_bias`` (K, D), ``A_logs`` (K*D, N), ``Ds`` (K*D,)) and run *one* selective scan over the
K*D channels with K groups of B/C.  :func:`multi_scan` is that core on srbench's selective scan
(``registry/ops/scan.py``, exact against the sequential recurrence); :func:`init_multi_scan` gives an
untrained module those parameters with Mamba's initialisation.  :func:`gumbel_hard` is PyTorch's
``F.gumbel_softmax(hard=True)`` with the noise drawn from a given generator (MambaIRv2's routing draws
Gumbel noise at inference too).  The two networks share their outer skeleton too: mean shift,
``conv_first``, tokens with LayerNorm (``patch_embed.norm``), residual groups closed by a 3x3 conv,
``norm``, ``conv_after_body`` plus the long skip, and a one-step pixel-shuffle upsampler
(``upsample.0``): :class:`UpsampleOneStep`, :class:`PatchNorm`, :func:`tokens_to_map`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from registry.ops.scan import selective_scan

__all__ = ["init_multi_scan", "multi_scan", "gumbel_hard", "UpsampleOneStep", "PatchNorm", "tokens_to_map",
           "RGB_MEAN"]

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K mean, subtracted on input and added back on output


def init_multi_scan(module: nn.Module, k: int, d_inner: int, d_state: int, dt_rank: int,
                    dt_min: float = 0.001, dt_max: float = 0.1, dt_init_floor: float = 1e-4) -> None:
    """Register the K-direction scan parameters on ``module`` (MambaIR's names and initialisation)."""
    std = dt_rank ** -0.5
    x_proj = torch.empty(k, dt_rank + 2 * d_state, d_inner)
    bound = 1 / math.sqrt(d_inner)  # nn.Linear's default init
    nn.init.uniform_(x_proj, -bound, bound)
    dt_w = torch.empty(k, d_inner, dt_rank).uniform_(-std, std)
    dt = torch.exp(torch.rand(k, d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=dt_init_floor)
    A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(k * d_inner, 1)
    module.x_proj_weight = nn.Parameter(x_proj)
    module.dt_projs_weight = nn.Parameter(dt_w)
    module.dt_projs_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
    module.A_logs = nn.Parameter(torch.log(A))
    module.Ds = nn.Parameter(torch.ones(k * d_inner))


def multi_scan(m: nn.Module, xs: torch.Tensor, d_state: int, dt_rank: int,
               c_extra: torch.Tensor | None = None) -> torch.Tensor:
    """(b, K, D, L) sequences -> (b, K, D, L) scan outputs, with ``m``'s stacked parameters.

    dt, B, C = x_proj_k(x_k); dt = dt_proj_k(dt); one selective scan over K*D channels with K groups
    of B and C, dt bias and softplus in the scan, skip D.  ``c_extra`` (b, K, N, L) is added to C
    (MambaIRv2's prompt).  The scan runs in float32, as the original's ``.float()`` calls do (float64
    inputs stay float64, for exactness tests).
    """
    b, k, d, L = xs.shape
    x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, m.x_proj_weight)
    dts, Bs, Cs = torch.split(x_dbl, [dt_rank, d_state, d_state], dim=2)
    dts = torch.einsum("bkrl,kdr->bkdl", dts, m.dt_projs_weight)
    f = (lambda t: t) if xs.dtype == torch.float64 else (lambda t: t.float())
    Cs = f(Cs)
    if c_extra is not None:
        Cs = Cs + c_extra
    A = -torch.exp(f(m.A_logs))
    y = selective_scan(f(xs).reshape(b, k * d, L), f(dts).reshape(b, k * d, L), A, f(Bs), Cs, f(m.Ds), z=None,
                       delta_bias=f(m.dt_projs_bias).reshape(-1), delta_softplus=True)
    return y.view(b, k, d, L)


def _gumbel_noise(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """-log(Exp(1)) noise as ``F.gumbel_softmax`` draws it (same values for the same RNG state).

    Drawn with a JIT trace paused: random sampling is no arithmetic of the network, and fvcore would
    otherwise list ``aten::exponential_`` as an unknown op; the trace sees the noise as a constant.
    """
    tracing = torch._C._get_tracing_state()
    if tracing is not None:
        torch._C._set_tracing_state(None)
    try:
        e = torch.empty_like(logits, memory_format=torch.legacy_contiguous_format)
        noise = -e.exponential_(generator=generator).log()
    finally:
        if tracing is not None:
            torch._C._set_tracing_state(tracing)
    return noise


def gumbel_hard(logits: torch.Tensor, generator: torch.Generator | None = None,
                dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """``F.gumbel_softmax(logits, tau=1, hard=True, dim=dim)`` and its argmax index.

    The value is PyTorch's straight-through ``y_hard - y_soft + y_soft`` (a one-hot up to one rounding
    of the chosen entry), computed the same way so that its products match the original's.
    """
    y_soft = (logits + _gumbel_noise(logits, generator)).softmax(dim)
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = torch.zeros_like(logits, memory_format=torch.legacy_contiguous_format).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft, index.squeeze(dim)


class UpsampleOneStep(nn.Sequential):
    """conv3x3 (C -> scale^2 * out) + PixelShuffle (keys ``0.weight``, ``0.bias``)."""

    def __init__(self, scale: int, channels: int, out_channels: int = 3):
        super().__init__(nn.Conv2d(channels, scale * scale * out_channels, 3, 1, 1), nn.PixelShuffle(scale))


class PatchNorm(nn.Module):
    """(b, C, H, W) -> (b, H*W, C) tokens, LayerNorm'd (``patch_embed.norm``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


def tokens_to_map(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(b, H*W, C) tokens -> (b, C, H, W)."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], hw[0], hw[1])

