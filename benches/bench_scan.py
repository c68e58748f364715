"""Selective scan on the CPU: srbench's fused C++ kernel and chunked torch scan vs the naive token loop.

    python benches/bench_scan.py [--threads N] [--naive-steps 4096] [--repeats 3] [--layout mamba|contiguous]

Shapes are DVMSR's mixers (batch 1, D = 120 inner channels, N = 16 states, delta_softplus, D and z
given) at L = 16384 (a 128x128 LR) and 65536 (256x256).  ``--layout mamba`` (default) passes delta, z
and B/C as the token-major views registry/ops/mamba.py passes; ``contiguous`` as (batch, D, L) tensors.
The torch path (``selective_scan_torch``) and the kernel (``scan_cpu.selective_scan_cpp``) are timed
interleaved, repeat by repeat (a shared, busy machine slows both alike), medians and their ratio
printed.  The naive loop is mamba_ssm's reference recurrence (per token: decay, state update,
read-out) and is timed on its first ``--naive-steps`` tokens only, then extrapolated linearly to L
(its cost per token does not depend on L); the table says so.  All three are checked to agree on
those first tokens.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from registry.ops import scan_cpu  # noqa: E402
from registry.ops.scan import selective_scan_torch  # noqa: E402


def naive_scan(u, delta, A, B, C, D, z, delta_bias, steps):
    """The token loop (mamba_ssm's selective_scan_ref without precomputing all L*D*N decays)."""
    dt = F.softplus(delta + delta_bias[:, None])
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(steps):
        dA = torch.exp(dt[:, :, t, None] * A)
        h = dA * h + (dt[:, :, t] * u[:, :, t])[..., None] * B[:, None, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    y = torch.stack(ys, dim=-1) + D[:, None] * u[..., :steps]
    return y * F.silu(z[..., :steps])


def inputs(L, dim=120, N=16, seed=0, layout="contiguous"):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(1, dim, L, generator=g)
    delta = torch.randn(1, dim, L, generator=g) * 0.5 - 2.0
    A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(dim, 1) * torch.exp(torch.randn(dim, 1, generator=g) * 0.2)
    B = torch.randn(1, N, L, generator=g)
    C = torch.randn(1, N, L, generator=g)
    D = torch.randn(dim, generator=g)
    z = torch.randn(1, dim, L, generator=g)
    bias = torch.randn(dim, generator=g) * 0.3
    if layout == "mamba":  # the same values in registry/ops/mamba.py's memory layouts
        u = u.transpose(1, 2).contiguous().transpose(1, 2)
        delta = delta.transpose(1, 2).contiguous().transpose(1, 2)
        z = torch.cat([z, z], 1).transpose(1, 2).contiguous()[..., dim:].transpose(1, 2)
        dbl = torch.cat([torch.zeros(1, 4, L), B, C], 1).transpose(1, 2).contiguous()  # (1, L, 4 + 2N)
        B, C = dbl[..., 4:4 + N].transpose(1, 2), dbl[..., 4 + N:].transpose(1, 2)
    return u, delta, A, B, C, D, z, bias


def timed(fn, repeats, *args):
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: comparable across runs)")
    ap.add_argument("--naive-steps", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lengths", default="16384,65536")
    ap.add_argument("--layout", default="mamba", choices=["mamba", "contiguous"])
    args, _ = ap.parse_known_args(argv)  # nox passes one posargs list to every bench
    torch.set_num_threads(args.threads)
    try:
        t0 = time.perf_counter()
        scan_cpu.extension()
        ext_note = f"kernel loaded in {time.perf_counter() - t0:.1f} s (a first build compiles it)"
    except scan_cpu.ScanBuildError as e:
        ext_note = f"kernel unavailable: {e}"
    print(f"# selective scan, CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), float32, batch 1, D=120, N=16, {args.layout} layout; {ext_note}")
    print(f"# torch and cpp interleaved, {args.repeats} repeats (medians); naive loop timed on its first "
          f"{args.naive_steps} tokens and extrapolated to L; load average {os.getloadavg()[0]:.2f}")
    print(f"{'L':>7} {'torch s':>8} {'cpp s':>8} {'torch/cpp':>9} {'naive s (extrap.)':>18} "
          f"{'naive/cpp':>9} {'max rel. err':>13}")
    for L in (int(x) for x in args.lengths.split(",")):
        x = inputs(L, layout=args.layout)
        steps = min(args.naive_steps, L)
        times = {"torch": [], "cpp": []}
        with torch.inference_mode():
            for _ in range(args.repeats):
                y, t = timed(selective_scan_torch, 1, *x, True)
                times["torch"].append(t)
                if scan_cpu.available():
                    y_cpp, t = timed(scan_cpu.selective_scan_cpp, 1, *x, True)
                    times["cpp"].append(t)
            y_ref, t_naive = timed(naive_scan, 1, *x, steps)
        t_naive_full = t_naive * L / steps
        t_torch = statistics.median(times["torch"])
        t_cpp = statistics.median(times["cpp"]) if times["cpp"] else float("nan")
        err = ((y[..., :steps] - y_ref).abs().max() / y_ref.abs().max()).item()
        if times["cpp"]:
            err = max(err, ((y_cpp[..., :steps] - y_ref).abs().max() / y_ref.abs().max()).item())
        print(f"{L:>7} {t_torch:>8.3f} {t_cpp:>8.3f} {t_torch / t_cpp:>8.2f}x {t_naive_full:>18.2f} "
              f"{t_naive_full / t_cpp:>8.1f}x {err:>13.2e}")

if __name__ == "__main__":
    main()
