"""srbench's fused CPU selective scan: a small C++ extension (``scan_cpu.cpp`` beside this file).

It is compiled with ``torch.utils.cpp_extension.load_inline`` (g++ and ninja needed: the ``fast-cpu``
extra installs ninja) on the first CPU scan of a process, into ``$SRBENCH_CACHE/torch_extensions`` when
``SRBENCH_CACHE`` is set, else torch's extension folder (``TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``); later processes find it built there (ninja checks it is up to date).
If the build or the import fails for any reason, :func:`extension` remembers why, ``warnings.warn`` says
so once, and :mod:`registry.ops.scan` runs its pure-PyTorch path instead.

The kernel computes what :func:`registry.ops.scan.selective_scan_torch` does, token by token (the
sequential recurrence; the same ``LOG_FLOOR`` clamp of ``dt * A`` from :mod:`registry.ops.scan_checks`,
softplus threshold 20; float32 inputs in float32, float64 in float64, half types in float32), in another
order of float operations: the two agree to rounding.  In float32 the exponentials are polynomials that
vectorise (relative error ~1e-7, exact at 0; arguments clamped to [-87, 88]) and log1p is Goldberg's
log(1 + e) * e / ((1 + e) - 1); float64 uses the C library's.  Work is split over (batch, blocks of 16
channels) with ``at::parallel_for``, so ``torch.set_num_threads`` applies.  ``-march=native``: the
extension is built for, and on, the machine that runs it (the CPU's flags are part of its name, so a
cache folder shared by different machines holds one build each).
"""

from __future__ import annotations

from pathlib import Path

import torch

from protocol.cext import BUILD_FLAGS, ExtensionUnavailable, LazyExtension
from registry.ops.scan_checks import LOG_FLOOR, check_shapes

__all__ = ["extension", "available", "build_error", "selective_scan_cpp", "ScanBuildError", "BUILD_FLAGS"]

# -march=native (protocol.cext.BUILD_FLAGS): measured 2.7x faster than the default x86-64 (SSE2) build
# on a 65536-token DVMSR scan (AMD EPYC, AVX-512); -fno-trapping-math lets GCC vectorise softplus/silu.
EXTENSION = LazyExtension("srbench_scan_cpu", Path(__file__).with_name("scan_cpu.cpp"),
                          "the fused CPU selective scan")


class ScanBuildError(RuntimeError):
    """The fused CPU scan could not be built or imported."""


def extension():
    """The compiled module, building it on first use; raises :class:`ScanBuildError` (one line) if it
    cannot be had (the first failure also warns, once)."""
    try:
        return EXTENSION.get()
    except ExtensionUnavailable as e:
        raise ScanBuildError(str(e)) from None


def available() -> bool:
    """True when the kernel builds (builds it on first call; warns once when it does not)."""
    return EXTENSION.available()


def build_error() -> str:
    """Why the build failed ('' when it did not, or was not tried)."""
    return EXTENSION.error


@torch.no_grad()
def selective_scan_cpp(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                       return_last_state=False):
    """The fused kernel with :func:`registry.ops.scan.selective_scan_torch`'s signature and checks.
    ``y`` has ``u``'s memory layout when ``u`` is dense (``torch.empty_like``), else it is contiguous."""
    if A.is_complex() or u.is_complex():
        raise NotImplementedError("complex selective scans are not supported by the CPU kernel")
    if u.device.type != "cpu":
        raise ValueError(f"the fused CPU scan needs CPU tensors, not {u.device}")
    bsz, dim, L, N, G = check_shapes(u, delta, A, B, C)
    ext = extension()
    wdt = torch.float64 if u.dtype == torch.float64 else torch.float32

    def w(x, contiguous=False):
        if x is None:
            return None
        x = x.to(wdt)
        return x.contiguous() if contiguous else x

    def bc(M):  # (D, N), or (batch, [G,] N, L) -> (batch, G, L, N): contiguous (a no-op when token-major)
        if M.dim() == 2:
            return w(M, True)
        return w((M.unsqueeze(1) if M.dim() == 3 else M).transpose(-1, -2), True)

    # y takes u's memory layout when u is dense (as torch.empty_like): token-major for Mamba mixers,
    # whose out_proj then reads y.transpose(1, 2) contiguously
    y = torch.empty_like(u, dtype=wdt, memory_format=torch.preserve_format)
    last = torch.zeros(bsz, dim, N, dtype=wdt) if return_last_state else torch.empty(0, dtype=wdt)
    if L:
        ext.scan_fwd(w(u), w(delta), w(A, True), bc(B), bc(C), w(D, True), w(z), w(delta_bias, True),
                     bool(delta_softplus), float(LOG_FLOOR[wdt]), G, y, last)
    y = y.to(u.dtype)
    return (y, last.to(u.dtype)) if return_last_state else y
