"""Shared by the selective scan's torch path (:mod:`registry.ops.scan`) and its fused CPU kernel
(:mod:`registry.ops.scan_cpu`): the input checks and the clamp of ``dt * A``."""

from __future__ import annotations

import torch

__all__ = ["LOG_FLOOR", "as_groups", "check_shapes"]

# dt*A is clamped from below before exp: exp of a more negative value underflows to a subnormal or 0,
# which the CPU's vectorised exp handles 10-30x slower (DVMSR's trained A reaches -1631).  The decay
# exp(-80) ~ 1.8e-35 (float32) instead of a smaller one changes a state by < 2e-35 of itself.
LOG_FLOOR = {torch.float32: -80.0, torch.float64: -700.0}


def as_groups(M: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    """B or C as (batch, G, N, L): (batch, N, L) -> G = 1; (batch, G, N, L) as is."""
    if M.dim() == 3:
        return M.unsqueeze(1)
    if M.dim() == 4:
        return M
    raise ValueError(f"{name} must be (batch, N, L), (batch, G, N, L) or (D, N); got {tuple(M.shape)}")


def check_shapes(u, delta, A, B, C) -> tuple[int, int, int, int, int]:
    """(batch, D, L, N, G) of a scan's inputs; ValueError when they do not fit together."""
    if u.dim() != 3:
        raise ValueError(f"u must be (batch, D, L); got {tuple(u.shape)}")
    bsz, dim, L = (int(n) for n in u.shape)  # ints, also under a JIT trace
    if delta.shape != u.shape:
        raise ValueError(f"delta {tuple(delta.shape)} must have u's shape {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (D, N) = ({dim}, N); got {tuple(A.shape)}")
    N = int(A.shape[1])
    Bg = None if B.dim() == 2 else as_groups(B, bsz, "B")
    Cg = None if C.dim() == 2 else as_groups(C, bsz, "C")
    groups = {int(g.shape[1]) for g in (Bg, Cg) if g is not None}
    if len(groups) > 1:
        raise ValueError(f"B and C have different group counts {sorted(groups)}")
    G = groups.pop() if groups else 1
    if dim % G:
        raise ValueError(f"D = {dim} is not a multiple of the {G} groups of B/C")
    for name, M in (("B", Bg), ("C", Cg)):
        if M is not None and tuple(int(n) for n in M.shape) != (bsz, G, N, L):
            raise ValueError(f"{name} {tuple(M.shape)} does not fit batch={bsz}, N={N}, L={L}")
    if B.dim() == 2 and tuple(B.shape) != (dim, N) or C.dim() == 2 and tuple(C.shape) != (dim, N):
        raise ValueError(f"constant B/C must be (D, N) = ({dim}, {N})")
    return bsz, dim, L, N, G
