"""Selective scan on the CPU: srbench's chunked torch scan vs the naive token-by-token loop.

    python benches/bench_scan.py [--threads N] [--naive-steps 4096] [--repeats 3]

Shapes are DVMSR's mixers (batch 1, D = 120 inner channels, N = 16 states, delta_softplus, D and z
given) at L = 16384 (a 128x128 LR) and 65536 (256x256).  The naive loop is mamba_ssm's reference
recurrence (per token: decay, state update, read-out) and is timed on its first ``--naive-steps``
tokens only, then extrapolated linearly to L (its cost per token does not depend on L); the table says
so.  Both paths are checked to agree on those first tokens.
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

from registry.ops.scan import selective_scan  # noqa: E402


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


def inputs(L, dim=120, N=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(1, dim, L, generator=g)
    delta = torch.randn(1, dim, L, generator=g) * 0.5 - 2.0
    A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(dim, 1) * torch.exp(torch.randn(dim, 1, generator=g) * 0.2)
    B = torch.randn(1, N, L, generator=g)
    C = torch.randn(1, N, L, generator=g)
    D = torch.randn(dim, generator=g)
    z = torch.randn(1, dim, L, generator=g)
    bias = torch.randn(dim, generator=g) * 0.3
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
    args, _ = ap.parse_known_args(argv)  # nox passes one posargs list to every bench
    torch.set_num_threads(args.threads)
    os.environ["SRBENCH_SCAN"] = "torch"
    print(f"# selective scan, CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), float32, batch 1, D=120, N=16")
    print(f"# naive loop timed on its first {args.naive_steps} tokens and extrapolated to L")
    print(f"{'L':>7} {'chunked s':>10} {'naive s (extrap.)':>18} {'speed-up':>9} {'max rel. err':>13}")
    for L in (int(x) for x in args.lengths.split(",")):
        x = inputs(L)
        steps = min(args.naive_steps, L)
        with torch.inference_mode():
            y, t_fast = timed(selective_scan, args.repeats, *x, True)
            y_ref, t_naive = timed(naive_scan, 1, *x, steps)
        t_naive_full = t_naive * L / steps
        err = ((y[..., :steps] - y_ref).abs().max() / y_ref.abs().max()).item()
        print(f"{L:>7} {t_fast:>10.3f} {t_naive_full:>18.2f} {t_naive_full / t_fast:>8.1f}x {err:>13.2e}")


if __name__ == "__main__":
    main()
