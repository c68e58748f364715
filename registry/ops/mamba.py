"""The Mamba (S6) mixer of ``mamba_ssm.modules.mamba_simple.Mamba``, on srbench's selective scan.

Parameter names and shapes are mamba_ssm's (``in_proj``, ``conv1d``, ``x_proj``, ``dt_proj``,
``A_log``, ``D``, ``out_proj``), so a checkpoint trained with mamba_ssm loads strictly; the forward is
mamba_ssm's reference (non-fused) path: in_proj -> (x, z); x -> causal depth-wise conv1d -> SiLU ->
x_proj -> (dt, B, C); dt -> dt_proj (bias applied inside the scan, with softplus);
y = selective_scan(x, dt, A = -exp(A_log), B, C, D, z) -> out_proj.  The scan dispatches to mamba_ssm's
CUDA kernel on CUDA tensors when available, to srbench's fused C++ kernel on CPU tensors when it builds
(see :mod:`registry.ops.scan`).

Layout: everything stays token-major, as in_proj produces it: in_proj returns x and z as two tensors, the
depth-wise conv1d runs as a (1, d_conv) conv2d on the channels-last view of x, and the scan reads the
token-major views (and, on the CPU kernel, writes y token-major for out_proj).  Same parameters, same
sums and FLOP count as the channel-major formulation; outputs agree to float rounding (~1e-6).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from registry.ops.scan import selective_scan

__all__ = ["Mamba"]


class _SplitLinear(nn.Linear):
    """mamba_ssm's ``in_proj`` (same parameters) returning its two halves (x, z) as two contiguous
    tensors: two products of half the size instead of one output sliced in two (on the CPU a fresh
    buffer over glibc's 32 MiB mmap threshold costs as much in page faults as the product itself)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.out_features // 2
        b = (None, None) if self.bias is None else (self.bias[:h], self.bias[h:])
        return F.linear(x, self.weight[:h], b[0]), F.linear(x, self.weight[h:], b[1])


class Mamba(nn.Module):
    """A Mamba-1 mixer on (batch, L, d_model) sequences.

    Same constructor arguments and defaults as mamba_ssm 1.x/2.x ``Mamba`` (d_state=16, d_conv=4,
    expand=2, dt_rank='auto' = ceil(d_model / 16), conv_bias=True, bias=False) and the same
    initialisation (S4D-real A, dt log-uniform in [dt_min, dt_max], D = 1).
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: float = 2,
                 dt_rank: int | str = "auto", dt_min: float = 0.001, dt_max: float = 0.1,
                 dt_init: str = "random", dt_scale: float = 1.0, dt_init_floor: float = 1e-4,
                 conv_bias: bool = True, bias: bool = False, layer_idx: int | None = None,
                 device=None, dtype=None, **_ignored):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.layer_idx = layer_idx

        self.in_proj = _SplitLinear(d_model, self.d_inner * 2, bias=bias, **fk)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner,
                                padding=d_conv - 1, bias=conv_bias, **fk)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False, **fk)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **fk)

        # dt_proj: weights keep the variance of dt; bias = softplus^-1(dt), dt log-uniform.
        std = self.dt_rank ** -0.5 * dt_scale
        with torch.no_grad():
            if dt_init == "constant":
                nn.init.constant_(self.dt_proj.weight, std)
            elif dt_init == "random":
                nn.init.uniform_(self.dt_proj.weight, -std, std)
            else:
                raise ValueError(f"dt_init must be 'constant' or 'random', not {dt_init!r}")
            dt = torch.exp(torch.rand(self.d_inner, **fk) * (math.log(dt_max) - math.log(dt_min))
                           + math.log(dt_min)).clamp(min=dt_init_floor)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

        A = torch.arange(1, d_state + 1, dtype=torch.float32, device=device).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner, device=device))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **fk)

    def forward(self, hidden_states: torch.Tensor, inference_params=None) -> torch.Tensor:
        """(batch, L, d_model) -> (batch, L, d_model)."""
        if inference_params is not None:
            raise NotImplementedError("step-wise decoding (inference_params) is not supported")
        L = hidden_states.shape[1]
        x, z = self.in_proj(hidden_states)  # (b, L, d_inner) each, token-major
        # The causal depth-wise conv1d, run as a (1, d_conv) conv2d on the channels-last (= token-major)
        # layout: the same weights, sums and FLOP count, without transposing x to channel-major first
        # (on the CPU, that copy plus a channel-major depth-wise conv cost ~10x this).
        x = x.transpose(1, 2).unsqueeze(2)  # (b, d_inner, 1, L): a channels-last view, no copy
        x = F.conv2d(x, self.conv1d.weight.unsqueeze(2), self.conv1d.bias, padding=(0, self.d_conv - 1),
                     groups=self.d_inner)
        x = F.silu(x[..., :L].squeeze(2), inplace=True)  # (b, d_inner, L), token-major; a fresh tensor
        z = z.transpose(1, 2)
        x_dbl = self.x_proj(x.transpose(1, 2))  # (b, L, dt_rank + 2N)
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight).transpose(1, 2)  # bias goes in the scan
        A = -torch.exp(self.A_log.float())
        y = selective_scan(x, dt, A, B.transpose(1, 2), C.transpose(1, 2), self.D.float(), z=z,
                           delta_bias=self.dt_proj.bias.float(), delta_softplus=True)
        return self.out_proj(y.transpose(1, 2))

