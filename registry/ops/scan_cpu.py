"""srbench's fused CPU selective scan: a small C++ extension (``scan_cpu.cpp`` beside this file).

It is compiled with ``torch.utils.cpp_extension.load_inline`` (g++ and ninja needed: the ``fast-cpu``
extra installs ninja) on the first CPU scan of a process, into ``$SRBENCH_CACHE/torch_extensions`` when
``SRBENCH_CACHE`` is set, else torch's extension folder (``TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``); later processes find it built there (ninja checks it is up to date).
If the build or the import fails for any reason, :func:`extension` remembers why, ``warnings.warn`` says
so once, and :mod:`registry.ops.scan` runs its pure-PyTorch path instead.

The kernel computes what :func:`registry.ops.scan.selective_scan_torch` does, the same way per token
(the sequential recurrence, with the same ``_LOG_FLOOR`` clamp of ``dt * A``, softplus threshold 20;
float32 inputs in float32, float64 in float64, half types in float32), in a different order of float
operations: the two agree to rounding.  float32's ``exp`` is a vectorisable polynomial (about 1 ulp,
arguments clamped to [-87, 88]).  Work is split over (batch, channel blocks) with ``at::parallel_for``,
so ``torch.set_num_threads`` applies.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from pathlib import Path

import torch

__all__ = ["extension", "available", "build_error", "selective_scan_cpp", "ScanBuildError", "BUILD_FLAGS"]

_NAME = "srbench_scan_cpu"
_SOURCE = Path(__file__).with_name("scan_cpu.cpp")
# -march=native: the extension is built on the machine that runs it (see the report of issue #17 for
# the measured gain: the float32 lanes become one AVX-512/AVX2 register instead of four SSE ones).
BUILD_FLAGS = ["-O3", "-fno-trapping-math", "-march=native"]

_LOCK = threading.Lock()
_EXT = None  # the loaded module; False once the build failed
_ERR = ""
build_seconds: float | None = None  # how long this process's load (build or up-to-date check) took


class ScanBuildError(RuntimeError):
    """The fused CPU scan could not be built or imported."""


def _build_directory() -> str | None:
    cache = os.environ.get("SRBENCH_CACHE")
    if not cache:
        return None  # torch's default
    d = Path(cache) / "torch_extensions" / _NAME
    d.mkdir(parents=True, exist_ok=True)
    return str(d)


def _build():
    """Compile (or find up to date) and import the extension; raises on any failure."""
    from torch.utils import cpp_extension

    return cpp_extension.load_inline(
        name=_NAME, cpp_sources=[_SOURCE.read_text()], extra_cflags=list(BUILD_FLAGS),
        build_directory=_build_directory(), no_implicit_headers=True, verbose=False)


def extension():
    """The compiled module, building it on first use; raises :class:`ScanBuildError` (one line) if it
    cannot be had (the first failure also warns, once)."""
    global _EXT, _ERR, build_seconds
    if _EXT is None:
        with _LOCK:
            if _EXT is None:
                t0 = time.perf_counter()
                try:
                    ext = _build()
                except BaseException as e:  # a compiler error, no ninja, an import error, ...
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    first = (str(e).strip().splitlines() or [""])[0][:300]
                    _ERR = f"{type(e).__name__}: {first}"
                    _EXT = False
                    warnings.warn(f"srbench: the fused CPU selective scan could not be built ({_ERR}); "
                                  "using the pure-PyTorch scan (slower). Install a C++ compiler and ninja "
                                  "(pip install 'srbench[fast-cpu]') or set SRBENCH_SCAN=torch.",
                                  RuntimeWarning, stacklevel=3)
                else:
                    _EXT = ext
                build_seconds = time.perf_counter() - t0
    if _EXT is False:
        raise ScanBuildError(f"the fused CPU selective scan is unavailable ({_ERR})")
    return _EXT


def available() -> bool:
    """True when the kernel builds (builds it on first call; warns once when it does not)."""
    try:
        extension()
    except ScanBuildError:
        return False
    return True


def build_error() -> str:
    """Why the build failed ('' when it did not, or was not tried)."""
    return _ERR


@torch.no_grad()
def selective_scan_cpp(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                       return_last_state=False):
    """The fused kernel with :func:`registry.ops.scan.selective_scan_torch`'s signature and checks."""
    from registry.ops.scan import _LOG_FLOOR, check_shapes

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

    y = torch.empty(bsz, dim, L, dtype=wdt)
    last = torch.zeros(bsz, dim, N, dtype=wdt) if return_last_state else torch.empty(0, dtype=wdt)
    if L:
        ext.scan_fwd(w(u), w(delta), w(A, True), bc(B), bc(C), w(D, True), w(z), w(delta_bias, True),
                     bool(delta_softplus), float(_LOG_FLOOR[wdt]), G, y, last)
    y = y.to(u.dtype)
    return (y, last.to(u.dtype)) if return_last_state else y
