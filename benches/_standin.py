"""The harness benchmark's stand-in models, as a plugin file (so child worker processes load them too):
``Bench-nearest-0`` .. ``Bench-nearest-{N-1}`` with N = $SRBENCH_BENCH_STANDINS (default 10), each a
nearest-neighbour upsampler whose forward pass costs next to nothing."""

import os

import torch
import torch.nn.functional as F

import registry


class Nearest(torch.nn.Module):
    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


for _k in range(int(os.environ.get("SRBENCH_BENCH_STANDINS", "10"))):
    registry.register_model(f"Bench-nearest-{_k}", Nearest, scales=(2, 3, 4), license="MIT")
