"""Small pieces shared by several NTIRE 2025 ESR CNN entries (TDESR, PAEDN, FEAN).

* :func:`centred_sigmoid`: ``sigmoid(h) - 0.5``, the parameter-free attention map of SPAN that TDESR
  (team 45, ``(h + x) * (sigmoid(h) - 0.5)``) and PAEDN (team 56, ``h * (sigmoid(h) - 0.5)``) reuse.
* :func:`channel_shuffle`: ShuffleNet's channel shuffle, ``(N, g, C/g, H, W) -> (N, C/g, g, H, W)``.
* :class:`UnusedTensors`: persistent, non-trainable buffers that hold tensors a checkpoint carries but
  the network never reads, so that ``load_state_dict(strict=True)`` accepts the file as it is, without
  counting those tensors as parameters of the network.

The card facts (the organizers' repository, the challenge report) are in ``registry/ops/ntire25.py``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["centred_sigmoid", "channel_shuffle", "UnusedTensors"]


def centred_sigmoid(h: torch.Tensor) -> torch.Tensor:
    """``sigmoid(h) - 0.5`` (values in (-0.5, 0.5)); a new tensor, ``h`` is untouched."""
    return torch.sigmoid(h) - 0.5


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` channel groups: channel ``g * (C // groups) + j`` moves to ``j * groups + g``."""
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f"channel_shuffle: {c} channels do not split into {groups} groups")
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class UnusedTensors(nn.Module):
    """Zero-filled persistent buffers named and shaped like the checkpoint's unused tensors.

    ``shapes`` maps a dotted name relative to this module (``"c1_r.expand.weight"``) to a shape; the
    sub-modules on the way are created as plain containers. Nothing here is called in a forward pass.
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]]):
        super().__init__()
        for name, shape in shapes.items():
            owner: nn.Module = self
            *path, leaf = name.split(".")
            for part in path:
                if part not in owner._modules:
                    owner.add_module(part, nn.Module())
                owner = owner._modules[part]
            owner.register_buffer(leaf, torch.zeros(shape), persistent=True)

    def forward(self, *args, **kwargs):  # pragma: no cover - never called
        raise RuntimeError("UnusedTensors holds checkpoint tensors the network does not use; it is never called")
