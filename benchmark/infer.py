"""Running a model on one LR image: tensor in, uint8 SR out, with the forward pass timed."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch


class InferenceError(RuntimeError):
    """The model misbehaved on an image (raised, non-finite output, wrong shape)."""


@dataclass(frozen=True)
class Inference:
    sr: torch.Tensor  # (1, 3, H, W) uint8 on the model's device
    forward_ms: float


def to_input(lr: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (h, w, 3) -> float32 (1, 3, h, w) RGB in [0, 1] on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1)[None]
    return t.to(device=device, dtype=torch.float32).div_(255.0)


def quantize(out: torch.Tensor) -> torch.Tensor:
    """[0, 1] float -> uint8, clamped and rounded as when saved to PNG (PROTOCOL section 3)."""
    return out.mul(255.0).clamp_(0, 255).round_().to(torch.uint8)


def timed_forward(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``model(x)`` and its milliseconds: CUDA events on a GPU, a monotonic clock on the CPU."""
    if x.device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = model(x)
        end.record()
        torch.cuda.synchronize(x.device)
        return out, float(start.elapsed_time(end))
    t0 = time.perf_counter_ns()
    out = model(x)
    return out, (time.perf_counter_ns() - t0) / 1e6


@torch.inference_mode()
def super_resolve(model: torch.nn.Module, lr: np.ndarray, scale: int, device: torch.device) -> Inference:
    x = to_input(lr, device)
    out, ms = timed_forward(model, x)
    want = (1, 3, lr.shape[0] * scale, lr.shape[1] * scale)
    if tuple(out.shape) != want:
        raise InferenceError(f"output shape {tuple(out.shape)}, expected {want}")
    if not torch.isfinite(out).all():
        raise InferenceError("output has NaN or Inf values")
    return Inference(quantize(out.float()), ms)
