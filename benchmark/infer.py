"""Running a model on one LR image: tensor in, uint8 SR out, with the forward pass timed.

Large inputs can be run in tiles: the LR is cut into ``tile`` x ``tile`` cores that partition it; each
core is run with ``overlap`` LR pixels of real context on every side (clamped at the image edge), and
only the SR of the core is kept. For a network whose output pixel depends on input pixels within
``overlap`` of it (plain convolutions, local attention) the tiled output equals the whole-image output
up to float rounding. Networks with image-wide statistics (channel attention on the global mean/std,
strided pooling whose grid depends on the tile origin) give slightly different numbers when tiled,
which is why every result records the tile size used (0 = whole image).

On an out-of-memory error the whole-image pass falls back to tiles, halving the tile until it fits.

The x8 geometric self-ensemble (``self_ensemble=True``, ``srbench run --self-ensemble``) runs that
same whole-or-tiled pass on each of the 8 rotations/flips of the LR and averages the 8 outputs,
transformed back, in float; the quantization to uint8 comes once, after the average.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

# LR pixels of context around each tile: more than the receptive-field radius of the registered
# local CNNs (SPAN, PAN, CARN-M, FSRCNN: 11 to ~40 px) needs at most this much for 1e-4 agreement.
DEFAULT_TILE_OVERLAP = 32
MIN_TILE = 16


class InferenceError(RuntimeError):
    """The model misbehaved on an image (raised, non-finite output, wrong shape, no memory)."""


@dataclass(frozen=True)
class Inference:
    sr: torch.Tensor  # (1, 3, H, W) uint8 on the model's device
    forward_ms: float  # the forward pass(es) only; summed over tiles when tiled
    tile: int = 0  # LR tile size used, 0 for the whole image in one pass


def to_input(lr: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (h, w, 3) -> float32 (1, 3, h, w) RGB in [0, 1] on ``device``."""
    arr = lr if lr.flags.writeable and lr.flags.c_contiguous else np.array(lr, order="C")
    t = torch.from_numpy(arr).permute(2, 0, 1)[None]
    if device.type == "cuda":
        t = t.to(device, non_blocking=False)
    return t.to(dtype=torch.float32).div_(255.0)


def quantize(out: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """[0, 1] float -> uint8, clamped and rounded as when saved to PNG (PROTOCOL section 3).

    ``inplace`` scales ``out`` itself (a forward pass's fresh output) instead of allocating a second
    float image of the SR size."""
    scaled = out.mul_(255.0) if inplace else out.mul(255.0)
    return scaled.clamp_(0, 255).round_().to(torch.uint8)


def is_out_of_memory(e: BaseException) -> bool:
    """A CUDA (or CPU allocator) out-of-memory error, the kind that tiling can cure."""
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    msg = str(e)
    return isinstance(e, RuntimeError) and ("out of memory" in msg.lower() or "can't allocate memory" in msg)


def _free_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


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


def _check(out: torch.Tensor, want: tuple[int, ...], where: str = "") -> None:
    if not isinstance(out, torch.Tensor):
        raise InferenceError(f"model returned {type(out).__name__}{where}, expected a tensor")
    if tuple(out.shape) != want:
        raise InferenceError(f"output shape {tuple(out.shape)}{where}, expected {want}")
    # One pass, no temporary: a NaN or Inf anywhere makes the sum non-finite; a non-finite sum of
    # finite values (overflow) is told apart by the full check.
    if not torch.isfinite(out.sum()) and not torch.isfinite(out).all():
        raise InferenceError(f"output has NaN or Inf values{where}")


def tile_spans(size: int, tile: int) -> list[tuple[int, int]]:
    """Cores ``[a, b)`` of at most ``tile`` pixels that partition ``[0, size)``, as even as possible."""
    n = max(1, math.ceil(size / tile))
    edges = [round(k * size / n) for k in range(n + 1)]
    return [(edges[k], edges[k + 1]) for k in range(n)]


def tiled_forward(model: torch.nn.Module, x: torch.Tensor, scale: int, tile: int,
                  overlap: int = DEFAULT_TILE_OVERLAP) -> tuple[torch.Tensor, float]:
    """The model's float output for ``x`` (1, C, h, w) computed tile by tile; and the summed forward ms."""
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, not {tile} and {overlap}")
    _, _, h, w = x.shape
    out: torch.Tensor | None = None
    total = 0.0
    for y0, y1 in tile_spans(h, tile):
        for x0, x1 in tile_spans(w, tile):
            iy0, iy1 = max(0, y0 - overlap), min(h, y1 + overlap)
            ix0, ix1 = max(0, x0 - overlap), min(w, x1 + overlap)
            part, ms = timed_forward(model, x[:, :, iy0:iy1, ix0:ix1])
            total += ms
            want = (1, 3, (iy1 - iy0) * scale, (ix1 - ix0) * scale)
            _check(part, want, f" on tile [{iy0}:{iy1}, {ix0}:{ix1}]")
            if out is None:
                out = torch.empty((1, 3, h * scale, w * scale), dtype=part.dtype, device=part.device)
            oy, ox = (y0 - iy0) * scale, (x0 - ix0) * scale
            out[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                part[:, :, oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
            del part
    assert out is not None
    return out, total


def first_tile(h: int, w: int) -> int:
    """The first tile tried after a whole-image OOM: half the longer side, a multiple of 8."""
    return max(MIN_TILE, 8 * math.ceil(max(h, w) / 2 / 8))


def _float_sr(model: torch.nn.Module, x: torch.Tensor, scale: int, device: torch.device, tile: int | None,
              overlap: int, oom_fallback: bool) -> tuple[torch.Tensor, float, int]:
    """The model's float output for ``x`` (1, 3, h, w), whole or in tiles (see :func:`super_resolve`);
    its forward ms and the tile used (0: whole)."""
    _, _, h, w = x.shape
    want = (1, 3, h * scale, w * scale)
    if not tile or tile >= max(h, w):
        try:
            out, ms = timed_forward(model, x)
        except Exception as e:
            if not (oom_fallback and is_out_of_memory(e)):
                raise
            del e
            _free_memory(device)
            tile = first_tile(h, w)
        else:
            _check(out, want)
            return out, ms, 0
    while True:
        try:
            out, ms = tiled_forward(model, x, scale, tile, overlap)
        except Exception as e:
            if not (oom_fallback and is_out_of_memory(e)):
                raise
            del e
            _free_memory(device)
            if tile <= MIN_TILE:
                raise InferenceError(f"out of memory even in {MIN_TILE}x{MIN_TILE} tiles") from None
            tile = max(MIN_TILE, tile // 2)
            continue
        _check(out, want)
        return out, ms, tile


# The x8 geometric self-ensemble: every (quarter turns k, horizontal flip) of the dihedral group D4.
SELF_ENSEMBLE = tuple((k, flip) for k in range(4) for flip in (False, True))


def _transform(t: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    t = torch.rot90(t, k, (2, 3))
    return (t.flip(3) if flip else t).contiguous()


def _untransform(t: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    return torch.rot90(t.flip(3) if flip else t, -k, (2, 3))


@torch.inference_mode()
def super_resolve(model: torch.nn.Module, lr: np.ndarray, scale: int, device: torch.device,
                  tile: int | None = None, overlap: int = DEFAULT_TILE_OVERLAP,
                  oom_fallback: bool = True, self_ensemble: bool = False) -> Inference:
    """SR of one uint8 (h, w, 3) LR image as uint8 (1, 3, h*s, w*s) on ``device``.

    ``tile``: run in tiles of this many LR pixels (None or 0: the whole image at once). With
    ``oom_fallback`` an out-of-memory error retries in tiles, halving down to ``MIN_TILE``.
    ``self_ensemble``: the x8 geometric self-ensemble -- the model runs on the 8 rotations/flips of
    the LR (each whole or tiled as above), each output is transformed back, and the 8 float outputs
    are averaged before the one quantization; ``forward_ms`` is then the sum of the 8 passes.
    Raises :class:`InferenceError` for a misbehaving model (wrong shape, NaN/Inf, no memory).
    """
    x = to_input(lr, device)
    if not self_ensemble:
        out, ms, used = _float_sr(model, x, scale, device, tile, overlap, oom_fallback)
        return Inference(quantize(out.float(), inplace=True), ms, used)
    total, acc = 0.0, None
    for k, flip in SELF_ENSEMBLE:
        out, ms, used = _float_sr(model, _transform(x, k, flip), scale, device, tile, overlap, oom_fallback)
        tile = used or tile  # tiles forced by an out-of-memory stay for the remaining transforms
        total += ms
        out = _untransform(out.float(), k, flip)
        acc = out.clone() if acc is None else acc.add_(out)
        del out
    assert acc is not None
    return Inference(quantize(acc.div_(len(SELF_ENSEMBLE)), inplace=True), total, tile or 0)
