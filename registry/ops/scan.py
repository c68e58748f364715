"""Mamba-1 selective scan: a pure-PyTorch implementation that runs everywhere, and dispatch.

``selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)`` has the signature and the
semantics of ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``.  For every batch ``b``,
inner channel ``d`` and token ``t`` (``dt = softplus(delta + delta_bias)`` when asked for)::

    h[t] = exp(dt[t] * A[d]) * h[t-1] + dt[t] * u[t] * B[t]      (h: the N-vector state of (b, d))
    y[t] = <C[t], h[t]> + D[d] * u[t]
    y[t] = y[t] * silu(z[t])                                       (when z is given)

The torch path never loops over tokens.  The sequence is cut into *segments* processed one after
the other (the (batch, D, N) state is carried between them, so memory is O(batch * D * N * segment)
whatever L is); a segment is cut into ``nc`` sub-chunks of ``c`` tokens, and

1. the per-token decays ``exp(dt * A)`` and inputs ``dt * u * B`` are built with a few big ops;
2. a loop over the ``c`` positions of a sub-chunk runs the recurrence of *all* sub-chunks at once
   (zero start state), and turns the decays into cumulative decay products in place;
3. a loop over the ``nc`` sub-chunks chains their start states (tiny (batch, D, N) ops);
4. one pass adds ``cumulative decay * start state`` and contracts with ``C``.

The products computed are the recurrence's own products of decays (each in (0, 1] for A < 0), only
re-associated, so this is as stable as the sequential recurrence: no exp of a positive cumulative
sum, nothing to overflow, underflow only where the recurrence underflows too.  Python-level work is
about ``c + nc`` small ops per segment, i.e. ~2 sqrt(segment) instead of L.

The op is wrapped in the ``torch.autograd.Function`` :class:`SelectiveScanFn`, so a JIT trace (fvcore)
shows it as one ``prim::PythonOp.SelectiveScanFn`` node whose inputs are, in order,
``(u, delta, A, B, C, D, z, delta_bias)``; the FLOP convention for it is 9*B*L*D*N + 2*B*D*L.

Dispatch (:func:`backend_for`): CUDA tensors use ``mamba_ssm``'s CUDA kernel when it is importable,
else the torch path; CPU tensors use srbench's fused C++ kernel (:mod:`registry.ops.scan_cpu`, the same
recurrence token by token, built on the first CPU scan) when it builds, else the torch path (the reason
is warned once).  ``SRBENCH_SCAN=torch`` forces the torch path; ``SRBENCH_SCAN=cpp`` and
``SRBENCH_SCAN=cuda`` force a kernel (an error naming the reason when it cannot run).  ``mamba_ssm`` is
imported lazily, on first CUDA use only.  Whichever runs, the graph node and the FLOP convention above
are the same.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F

from registry.ops.scan_checks import LOG_FLOOR as _LOG_FLOOR
from registry.ops.scan_checks import as_groups as _as_groups
from registry.ops.scan_checks import check_shapes

__all__ = ["selective_scan", "selective_scan_torch", "SelectiveScanFn", "backend_for", "check_shapes", "ENV_VAR"]

ENV_VAR = "SRBENCH_SCAN"
# Target elements (batch * D * N * tokens) of one segment's work buffers: a few MiB, cache friendly.
_SEGMENT_ELEMS = 1 << 20
_MAX_SEGMENT = 4096
_MIN_SEGMENT = 64

_MAMBA_FN = None  # mamba_ssm's selective_scan_fn once imported; False when the import failed
_MAMBA_ERR = ""


def _mamba_fn():
    global _MAMBA_FN, _MAMBA_ERR
    if _MAMBA_FN is None:
        try:
            from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
            _MAMBA_FN = selective_scan_fn
        except Exception as e:  # ImportError, or a CUDA extension that fails to load
            _MAMBA_FN, _MAMBA_ERR = False, f"{type(e).__name__}: {e}"
    return _MAMBA_FN or None


def backend_for(u: torch.Tensor) -> str:
    """'cuda' (mamba_ssm's kernel), 'cpp' (the fused CPU kernel) or 'torch' for a scan over ``u``,
    following ``SRBENCH_SCAN``.  On CPU tensors this builds the CPU kernel on first use."""
    want = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if want not in ("auto", "torch", "cuda", "cpp"):
        raise ValueError(f"{ENV_VAR}={want!r}: expected 'torch', 'cpp' or 'cuda' (or unset)")
    if want == "torch":
        return "torch"
    if want == "cuda":
        if not u.is_cuda:
            raise RuntimeError(f"{ENV_VAR}=cuda but the tensors are on {u.device}: mamba_ssm's selective "
                               f"scan needs CUDA tensors (unset {ENV_VAR} or set it to 'torch')")
        if _mamba_fn() is None:
            raise RuntimeError(f"{ENV_VAR}=cuda but mamba_ssm cannot be imported ({_MAMBA_ERR}); "
                               f"install the 'cuda' extra (pip install mamba-ssm) or set {ENV_VAR}=torch")
        return "cuda"
    if want == "cpp":
        if u.device.type != "cpu":
            raise RuntimeError(f"{ENV_VAR}=cpp but the tensors are on {u.device}: the fused scan runs on "
                               f"CPU tensors (unset {ENV_VAR} or set it to 'torch')")
        from registry.ops import scan_cpu

        try:
            scan_cpu.extension()
        except scan_cpu.ScanBuildError as e:
            raise RuntimeError(f"{ENV_VAR}=cpp but {e}; install g++ and ninja "
                               f"(pip install 'srbench[fast-cpu]') or set {ENV_VAR}=torch") from None
        return "cpp"
    if u.is_cuda:
        return "cuda" if _mamba_fn() is not None else "torch"
    if u.device.type == "cpu":
        from registry.ops import scan_cpu

        return "cpp" if scan_cpu.available() else "torch"
    return "torch"


def _segment_plan(L: int, per_token: int, chunk: int | None) -> tuple[int, int]:
    """(segment length, sub-chunk length) for a sequence of ``L`` tokens."""
    if chunk is None:
        seg = _SEGMENT_ELEMS // max(per_token, 1)
        seg = max(_MIN_SEGMENT, min(_MAX_SEGMENT, seg))
    else:
        seg = int(chunk)
        if seg < 1:
            raise ValueError(f"chunk must be >= 1, not {chunk}")
    seg = min(seg, L)
    c = max(1, int(math.isqrt(seg)))
    return seg, c


@torch.no_grad()
def selective_scan_torch(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                         return_last_state=False, chunk: int | None = None):
    """The chunked pure-PyTorch scan (see the module docstring).  ``chunk``: segment length (tokens);
    by default about 2**20 / (batch * D * N), so the work buffers stay a few MiB."""
    if A.is_complex() or u.is_complex():
        raise NotImplementedError("complex selective scans are not supported by the torch path")
    bsz, dim, L, N, G = check_shapes(u, delta, A, B, C)
    out_dtype = u.dtype
    wdt = torch.float64 if u.dtype == torch.float64 else torch.float32  # half types run in float32
    dev = u.device
    if L == 0:
        y = u.new_zeros(bsz, dim, 0)
        return (y, u.new_zeros(bsz, dim, N)) if return_last_state else y

    u_ = u.to(wdt)
    dt = delta.to(wdt)
    if delta_bias is not None:
        dt = dt + delta_bias.to(wdt)[None, :, None]
    if delta_softplus:
        dt = F.softplus(dt)  # threshold 20, as the CUDA kernel
    A_ = A.to(wdt)
    dtu = dt * u_  # (b, D, L)

    # B, C -> (b, G, N, L), or constant (D, N) matrices.
    constB, constC = B.dim() == 2, C.dim() == 2
    Bg = None if constB else _as_groups(B.to(wdt), bsz, "B")
    Cg = None if constC else _as_groups(C.to(wdt), bsz, "C")
    Dg = dim // G

    # Working layout: (token-in-chunk j, b, G, sub-chunk k, N, Dg): one position's slab is contiguous
    # and the innermost dimension is the (long) channel one.
    def nd(M):  # (D, N) -> (1, 1, G, 1, N, Dg)
        return M.to(wdt).reshape(G, Dg, N).transpose(1, 2).contiguous().view(1, 1, G, 1, N, Dg)

    A6 = nd(A_)
    Bc = nd(B) if constB else None
    Cc = nd(C) if constC else None

    log_floor = _LOG_FLOOR[wdt]
    seg, c = _segment_plan(L, bsz * dim * N, chunk)
    nc_max = -(-seg // c)
    cap = c * bsz * dim * nc_max * N
    buf_a = torch.empty(cap, dtype=wdt, device=dev)  # decays, then cumulative decays
    buf_x = torch.empty(cap, dtype=wdt, device=dev)  # inputs, then states
    h = torch.zeros(bsz, G, N, Dg, dtype=wdt, device=dev)  # carried state
    y = torch.empty(bsz, dim, L, dtype=wdt, device=dev)

    for s0 in range(0, L, seg):
        T = min(seg, L - s0)
        cs = min(c, T)
        nc = -(-T // cs)
        Tp = nc * cs
        pad = Tp - T

        def tok(v, inner, _s0=s0, _T=T, _pad=pad, _nc=nc, _cs=cs):
            # (b, G*inner, L) -> this segment as (cs, b, G, nc, inner), contiguous; padded with zeros.
            v = v[..., _s0:_s0 + _T]
            if _pad:
                v = F.pad(v, (0, _pad))
            v = v.unflatten(-1, (_nc, _cs)).movedim(-1, 0)  # (cs, b, G*inner, nc)
            return v.unflatten(2, (G, inner)).movedim(4, 3).contiguous()

        shape = (cs, bsz, G, nc, N, Dg)
        n_el = cs * bsz * G * nc * N * Dg
        a = buf_a[:n_el].view(shape)
        x = buf_x[:n_el].view(shape)
        # 1. Decays and inputs.  Padding tokens have dt = 0: decay 1 and input 0, a no-op.
        torch.mul(tok(dt, Dg).unsqueeze(4), A6, out=a)
        a.clamp_(min=log_floor).exp_()  # see _LOG_FLOOR
        dtu_s = tok(dtu, Dg).unsqueeze(4)  # (cs, b, G, nc, 1, Dg)
        if constB:
            torch.mul(dtu_s, Bc, out=x)
        else:
            torch.mul(dtu_s, tok(Bg.flatten(1, 2), N).unsqueeze(-1), out=x)

        # 2. Local recurrences (zero start), all sub-chunks at once; a -> cumulative decays.
        xs, as_ = x.unbind(0), a.unbind(0)
        for j in range(1, cs):
            xs[j].addcmul_(as_[j], xs[j - 1])
            as_[j].mul_(as_[j - 1])

        # 3. Start state of every sub-chunk: h0[k] = P_end[k-1] * h0[k-1] + x_end[k-1].
        a_end = as_[cs - 1].unbind(2)  # nc x (b, G, N, Dg)
        x_end = xs[cs - 1].unbind(2)
        h0 = torch.empty(nc, bsz, G, N, Dg, dtype=wdt, device=dev)
        h0s = h0.unbind(0)
        h0s[0].copy_(h)
        for k in range(1, nc):
            torch.addcmul(x_end[k - 1], a_end[k - 1], h0s[k - 1], out=h0s[k])
        h = torch.addcmul(x_end[nc - 1], a_end[nc - 1], h0s[nc - 1])

        # 4. States = local + cumulative decay * start state; y = <C, state>.
        x.addcmul_(a, h0.movedim(0, 2).contiguous().unsqueeze(0))
        x.mul_(Cc if constC else tok(Cg.flatten(1, 2), N).unsqueeze(-1))
        ys = x.sum(-2)  # (cs, b, G, nc, Dg)
        ys = ys.permute(1, 2, 4, 3, 0).reshape(bsz, dim, Tp)  # (b, G*Dg, nc*cs)
        y[..., s0:s0 + T] = ys[..., :T]

    if D is not None:
        y.addcmul_(u_, D.to(wdt)[None, :, None])
    if z is not None:
        y.mul_(F.silu(z.to(wdt)))
    y = y.to(out_dtype)
    if return_last_state:
        return y, h.transpose(2, 3).reshape(bsz, dim, N).to(out_dtype)
    return y


def _scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
    backend = backend_for(u)
    if backend == "cuda":
        return _mamba_fn()(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    if backend == "cpp":
        from registry.ops.scan_cpu import selective_scan_cpp

        return selective_scan_cpp(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    return selective_scan_torch(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


class SelectiveScanFn(torch.autograd.Function):
    """One graph node for the whole scan (fvcore sees ``prim::PythonOp.SelectiveScanFn``).

    Forward only: the project runs inference.  Inputs, in order: u, delta, A, B, C, D, z, delta_bias,
    delta_softplus, return_last_state.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                return_last_state=False):
        # Under a JIT trace the ops run here would be recorded beside the PythonOp node (in-place
        # ones survive dead-code elimination) and counted again by fvcore: compute with the tracer
        # paused, then hand out tensors the tracer has seen created from the inputs.
        tracing = torch._C._get_tracing_state()
        if tracing is None:
            return _scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
        torch._C._set_tracing_state(None)
        try:
            out = _scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
        finally:
            torch._C._set_tracing_state(tracing)
        outs = out if isinstance(out, tuple) else (out,)
        traced = tuple(u.new_empty(o.shape, dtype=o.dtype) for o in outs)
        torch._C._set_tracing_state(None)
        try:
            for t, o in zip(traced, outs, strict=True):
                t.copy_(o)
        finally:
            torch._C._set_tracing_state(tracing)
        return traced if isinstance(out, tuple) else traced[0]

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("SelectiveScanFn is forward-only (srbench runs inference); "
                                  "train with mamba_ssm's selective_scan_fn")


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False):
    """mamba_ssm's ``selective_scan_fn``: u, delta, z (batch, D, L); A (D, N); B, C (batch, N, L),
    (batch, G, N, L) or (D, N); D, delta_bias (D,).  Returns y (batch, D, L) in u's dtype, and the
    last state (batch, D, N) too when ``return_last_state``."""
    return SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus),
                                 bool(return_last_state))
