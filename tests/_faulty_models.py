"""Misbehaving test models, registered at import (so that a spawned worker process gets them too, by
this module's name) and by ``register_all()``; ``unregister_all()`` removes them again.

Each acts up on inputs told apart by their size (see tests/test_faults.py).
"""

from __future__ import annotations

import os
import time

import torch
import torch.nn.functional as F
from torch import nn

import registry
from registry.base import ModelCard

BIG = 600  # LR pixels: in the test set only c.png's LR (32x32 = 1024) is over it
FLAKY = {"raise": os.environ.get("SRBENCH_TEST_FLAKY") == "1"}  # a child process reads the switch too


class Nearest(nn.Module):
    """Nearest-neighbour upsampling (local, so tile-exact, and cheap) with a chosen misbehaviour."""

    def __init__(self, scale, mode="good"):
        super().__init__()
        self.scale, self.mode = scale, mode
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        h, w = x.shape[-2:]
        if self.mode == "raise" and w == 20:
            raise RuntimeError("boom on a 16x20 input")
        if self.mode == "flaky" and FLAKY["raise"]:
            raise RuntimeError("flaky failure")
        if self.mode == "oom" and h * w > BIG:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB (simulated)")
        if self.mode == "hang" and h * w > BIG:
            time.sleep(3600)
        if self.mode == "die" and h * w > BIG:
            os._exit(7)  # the whole process dies, as on a segfault
        out = F.interpolate(x, scale_factor=self.scale, mode="nearest") * self.w
        if self.mode == "nan":
            return out * float("nan")
        if self.mode == "shape":
            return out[:, :, :-1]
        return out


MODES = ("good", "raise", "nan", "shape", "oom", "hang", "die", "flaky")


def _build(mode):
    return lambda scale: Nearest(scale, mode)


CARDS = [ModelCard(name=f"T-{m}", family="Test", kind="baseline", paper=None, scales=(2,), build=_build(m))
         for m in MODES]


def register_all() -> None:
    registry.names()  # the real registry first
    for c in CARDS:
        registry.register(c)


def unregister_all() -> None:
    for c in CARDS:
        registry._CARDS.pop(c.name.lower(), None)


def project_cards() -> list[ModelCard]:
    """The registry without these stand-ins: importing this module (as test_faults does while pytest
    collects) registers them for the rest of the session's collection and beyond."""
    return [c for c in registry.cards() if all(c is not t for t in CARDS)]


register_all()
