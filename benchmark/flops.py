"""FLOPs, activations and conv counts, under the NTIRE ESR convention, with nothing dropped silently.

Conventions (PROTOCOL section 4)
--------------------------------
* One fused multiply-add is one FLOP. The input is one LR image, 1 x C x 256 x 256 for the headline
  number (C = 3, or 1 for a network that works on Y). We count the *bare network* the authors wrote
  (``SRModel.net``), as the NTIRE harness does: the adapter's rescaling to [0, 255] and the bicubic
  CbCr of Y-only networks are not part of the model.
* Counting is fvcore's ``FlopCountAnalysis`` (a JIT trace) with its stock handles (convolution,
  linear/matmul/einsum/bmm/addmm, batch/group/layer/instance norm, nearest and bilinear upsampling,
  adaptive average pooling, grid sampling), so a network made only of those ops gets exactly the
  figure the NTIRE 2024/2025 harness prints.

Which ops count in ``flops`` (the rule)
---------------------------------------
``flops`` counts *multiply-accumulate work*: every op in which an output element is a weighted sum
over a neighbourhood, a reduction dimension or a sequence. fvcore's stock handles already do this for
the common ops; we add handles for the ones it leaves at zero:

* ``prim::PythonOp.SelectiveScanFn`` (the Mamba selective scan, ``registry/ops/scan.py``):
  ``9 * B * L * D * N`` for the scan, plus ``B * D * L`` for the ``D`` skip when ``D`` is given and
  ``B * D * L`` for the ``z`` gate when ``z`` is given (the VMamba / MambaIR formula; u is
  (B, D, L), A is (D, N));
* ``aten::_convolution_mode`` (a convolution with ``padding='same'``/``'valid'``), counted like
  ``aten::_convolution``;
* ``aten::scaled_dot_product_attention``: the two products ``Lq * Lk * E + Lq * Lk * Ev`` per batch
  and head (the softmax is element-wise, see below);
* ``aten::baddbmm`` / ``aten::addbmm`` / ``aten::addmv`` / ``aten::mv`` / ``aten::dot``: their products;
* ``aten::upsample_bicubic2d`` (16 taps per output element, as fvcore counts 4 for bilinear and 1
  for nearest), ``aten::upsample_linear1d`` (2), ``aten::upsample_nearest1d/3d`` (1),
  ``aten::upsample_trilinear3d`` (8);
* ``aten::avg_pool1d/2d/3d``: one add per window element and output element (a box filter; fvcore
  counts adaptive average pooling the same way).

*Element-wise* ops (one output element from one element of each operand: add, mul, activations,
softmax, clamp, comparisons) and reductions and max-pooling are **never** in ``flops``: that is the
fvcore/NTIRE convention (it is why RLFN's 19.67 G reproduces). They are not dropped silently either:
every such op is named with its number of calls in ``flops_uncounted`` (``"aten::mul x12, ..."``)
and estimated in ``flops_elementwise`` at one FLOP per output element (per input element for a
reduction, per window element for max-pooling); arithmetic on 0-d tensors (shape bookkeeping) is
left out of that estimate. Pure data movement (view, permute, cat, pad, pixel-shuffle, slicing,
indexing, ``where``/``masked_fill``, copies) carries no arithmetic and is not listed. Any op we do not
know at all, including any other ``prim::PythonOp`` (a custom autograd function hides its
arithmetic from the trace), is listed in ``flops_uncounted`` marked ``(unknown)`` and reported in
``FlopReport.unknown``: tests require that no registered model has one.

``flops_fvcore`` is the stock-fvcore total (what the NTIRE harness would print, scan counted as 0) and
``flops_ptflops`` the ptflops count (its ``aten`` backend, MACs) kept as an independent cross-check.
ptflops sees dispatched aten ops: it counts mm/bmm/addmm/convolution (plus one per bias element) and
nothing element-wise, so it misses the selective scan (element-wise ops in the torch path) and adds
the biases; for the CNNs it lands within ~0.5 % of ``flops``.

Older NTIRE convention: the 2022 harness counted with module hooks (conv MACs plus one FLOP per
element of every ReLU/LeakyReLU/PReLU output, no interpolation), which is why E-RFDN is printed as
27.10 G there and 27.05 G (fvcore, ours) in 2024/2025.

Activations (NTIRE)
-------------------
The sum of the output elements of every ``nn.Conv2d``/``nn.ConvTranspose2d`` *call* (a module called
twice counts twice), found with forward hooks on the modules as the NTIRE harness does, plus the
number of such calls. The trace also counts 2-D convolutions that were called functionally
(``F.conv2d``), which module hooks miss; ``ActivationReport`` keeps both so a difference is visible.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from benchmark.flop_ops import (
    DATA_MOVEMENT,
    NTIRE_INPUT,
    SCAN_OP,
    STOCK_KEYS,
    OpCollector,
    selective_scan_flops,
)

__all__ = [
    "SCAN_OP", "FlopReport", "ActivationReport", "PerImageFlops", "count_flops", "count_activations",
    "count_ptflops", "flops_per_image", "flops_per_image_report", "selective_scan_flops", "bare_network",
    "NTIRE_INPUT",
]


@dataclass
class FlopReport:
    """What one trace of one network at one input size counted.

    ``flops``: our count (rule in the module docstring); ``fvcore``: stock fvcore handles only (the
    NTIRE-harness figure); ``by_op``: ``flops`` split by op type; ``elementwise``: the estimate for
    the element-wise ops left out of ``flops``; ``uncounted``: op kind -> calls for every op that
    does arithmetic and is not in ``flops``; ``unknown``: the subset we could not classify.
    ``conv2d_calls`` / ``conv2d_outputs``: 2-D convolutions in the trace (functional calls included).
    """

    flops: int
    fvcore: int
    by_op: dict[str, int]
    elementwise: int
    elementwise_by_op: dict[str, int]
    uncounted: dict[str, int]
    unknown: dict[str, int]
    input_shape: tuple[int, ...]
    conv2d_calls: int = 0
    conv2d_outputs: int = 0
    activations: int = 0  # NTIRE activations (module hooks on Conv2d/ConvTranspose2d), same forward
    num_conv: int = 0
    # "module pattern|op" -> flops; repeated blocks merged ("layers.*.conv"), "(self)" marks ops a
    # module runs itself rather than in a child (e.g. the scan inside a Mamba mixer).
    by_module: dict[str, int] = field(default_factory=dict)

    @property
    def uncounted_text(self) -> str:
        """``"aten::mul x12, aten::sigmoid x4"`` (unknown ops marked), ``""`` when nothing is left out."""
        parts = []
        for k, n in sorted(self.uncounted.items(), key=lambda kv: (kv[0] not in self.unknown, kv[0])):
            parts.append(f"{k} x{n}" + (" (unknown)" if k in self.unknown else ""))
        return ", ".join(parts)

    def by_op_json(self) -> str:
        return json.dumps(dict(sorted(self.by_op.items())), sort_keys=True)

    def by_module_json(self) -> str:
        return json.dumps(dict(sorted(self.by_module.items())), sort_keys=True)


def _direct_children_counts(analysis: FlopCountAnalysis) -> dict[str, Counter]:
    return {name: Counter(c) for name, c in analysis.by_module_and_operator().items()}


def _merge_modules(per_module: dict[str, Counter]) -> dict[str, int]:
    """Each op once, under the innermost module that ran it; indices of repeated blocks -> '*'."""
    import re

    def parent(name: str) -> str:
        return name.rsplit(".", 1)[0] if "." in name else ""

    own = {name: Counter(c) for name, c in per_module.items()}
    for name, c in per_module.items():
        if name and parent(name) in own:
            own[parent(name)].subtract(c)
    out: Counter = Counter()
    for name, c in own.items():
        pattern = re.sub(r"\.\d+(?=\.|$)", ".*", name) if name else "(model)"
        for op, v in c.items():
            if v:
                out[f"{pattern}|{op}"] += int(v)
    return dict(out)


def bare_network(model: nn.Module) -> tuple[nn.Module, int]:
    """(the authors' network, its input channels): ``SRModel.net`` and 1 for Y-only nets, else 3."""
    net = getattr(model, "net", None)
    if isinstance(net, nn.Module) and hasattr(model, "colour"):
        return net, (1 if model.colour == "y" else 3)
    return model, 3


def _input_like(net: nn.Module, channels: int, size: tuple[int, int]) -> torch.Tensor:
    p = next(iter(net.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, channels, *size, generator=g).to(device=device, dtype=dtype)


def count_flops(model: nn.Module, size: tuple[int, int] = NTIRE_INPUT,
                channels: int | None = None) -> FlopReport:
    """Trace ``model`` (an ``SRModel`` is unwrapped to its bare net) on one 1 x C x h x w input."""
    net, ch = bare_network(model)
    ch = channels or ch
    x = _input_like(net, ch, size)
    col = OpCollector()
    analysis = FlopCountAnalysis(net, (x,))
    analysis.clear_op_handles()  # our table includes the stock handles
    analysis.set_op_handle(**col.table())
    analysis._ignored_ops = {f"aten::{b}" for b in DATA_MOVEMENT}
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    acts = [0, 0]
    handles = _conv_hooks(net, acts)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            by_op = {k: int(v) for k, v in analysis.by_operator().items() if v}
            unknown = dict(analysis.unsupported_ops())
            by_module = _merge_modules(_direct_children_counts(analysis))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    uncounted = dict(col.calls)
    for k, n in unknown.items():
        uncounted[k] = uncounted.get(k, 0) + n
    return FlopReport(
        flops=sum(by_op.values()),
        fvcore=sum(v for k, v in by_op.items() if k in STOCK_KEYS),
        by_op=by_op,
        elementwise=int(sum(col.ew_flops.values())),
        elementwise_by_op={k: int(v) for k, v in col.ew_flops.items()},
        uncounted=uncounted,
        unknown=unknown,
        input_shape=tuple(x.shape),
        conv2d_calls=col.conv2d_calls,
        conv2d_outputs=col.conv2d_outputs,
        activations=acts[0],
        num_conv=acts[1],
        by_module=by_module,
    )


# ---------------------------------------------------------------------------------------------
# activations (NTIRE definition)


def _conv_hooks(net: nn.Module, total: list[int]) -> list:
    """Forward hooks adding each Conv2d/ConvTranspose2d call's output elements to total[0], calls to [1]."""

    def hook(_m, _i, out):
        total[0] += math.prod(int(d) for d in out.shape)  # int(): sizes are tensors under tracing
        total[1] += 1

    convs = (nn.Conv2d, nn.ConvTranspose2d)
    return [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, convs)]


@dataclass
class ActivationReport:
    activations: int  # output elements of every nn.Conv2d / nn.ConvTranspose2d call
    num_conv: int  # number of such calls


def count_activations(model: nn.Module, size: tuple[int, int] = NTIRE_INPUT,
                      channels: int | None = None) -> ActivationReport:
    """NTIRE activations and conv count: forward hooks on every Conv2d/ConvTranspose2d module."""
    net, ch = bare_network(model)
    x = _input_like(net, channels or ch, size)
    total = [0, 0]
    handles = _conv_hooks(net, total)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return ActivationReport(activations=total[0], num_conv=total[1])


# ---------------------------------------------------------------------------------------------
# ptflops cross-check


def count_ptflops(model: nn.Module, size: tuple[int, int] = NTIRE_INPUT,
                  channels: int | None = None) -> int | None:
    """ptflops' count (aten backend, multiply-adds) of the bare network; ``None`` if it fails."""
    import io

    from ptflops import get_model_complexity_info

    net, ch = bare_network(model)
    x = _input_like(net, channels or ch, size)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            macs, _ = get_model_complexity_info(
                net, tuple(x.shape[1:]), input_constructor=lambda _res: x, as_strings=False,
                print_per_layer_stat=False, backend="aten", ost=io.StringIO())
    except Exception:  # noqa: BLE001 - a cross-check must never stop a profile
        return None
    finally:
        net.train(was_training)
    return None if macs is None else int(macs)


# ---------------------------------------------------------------------------------------------
# per-image FLOPs at real input sizes


@dataclass
class PerImageFlops:
    flops: list[int]  # one per input size, in order
    method: str  # 'exact' (traced at every distinct size) or 'fit' (bilinear fit, verified)
    traced: list[tuple[int, int]] = field(default_factory=list)  # sizes counted exactly
    max_rel_err: float = 0.0  # the fit's worst error at the verification sizes


def _fit_bilinear(points: dict[tuple[int, int], int]):
    """f(h, w) = a*h*w + b*h + c*w + d through four points on a 2x2 grid."""
    import numpy as np

    keys = list(points)
    m = np.array([[h * w, h, w, 1.0] for h, w in keys])
    coef = np.linalg.solve(m, np.array([float(points[k]) for k in keys]))
    return lambda h, w: float(coef @ np.array([h * w, h, w, 1.0]))


def flops_per_image_report(model: nn.Module, sizes: Sequence[tuple[int, int]], method: str = "auto",
                           rtol: float = 1e-4, probes: tuple[int, int] = (32, 64)) -> PerImageFlops:
    """FLOPs (``flops`` convention) of one forward at each LR size (h, w).

    ``method='exact'`` traces every distinct size. ``'auto'`` does so when there are at most 6 distinct
    sizes; otherwise it traces four small probe sizes, fits ``a*h*w + b*h + c*w + d`` (exact for
    a fully convolutional net with 'same' padding), and *verifies* the fit by tracing the smallest
    and the largest real size: if either is off by more than ``rtol`` (window padding, attention,
    stride floors), it falls back to exact tracing.
    """
    if method not in ("auto", "exact"):
        raise ValueError(f"method must be 'auto' or 'exact', not {method!r}")
    sizes = [(int(h), int(w)) for h, w in sizes]
    distinct = sorted(set(sizes))
    cache: dict[tuple[int, int], int] = {}

    def exact(s: tuple[int, int]) -> int:
        if s not in cache:
            cache[s] = count_flops(model, s).flops
        return cache[s]

    if method == "auto" and len(distinct) > 6:
        lo, hi = probes
        fit = _fit_bilinear({(h, w): exact((h, w)) for h in (lo, hi) for w in (lo, hi)})
        checks = {min(distinct, key=lambda s: s[0] * s[1]), max(distinct, key=lambda s: s[0] * s[1])}
        err = max(abs(fit(*s) - exact(s)) / max(exact(s), 1) for s in checks)
        if err <= rtol:
            out = [cache[s] if s in cache else int(round(fit(*s))) for s in sizes]
            return PerImageFlops(out, "fit", sorted(cache), err)
    return PerImageFlops([exact(s) for s in sizes], "exact", sorted(cache), 0.0)


def flops_per_image(model: nn.Module, sizes: Iterable[tuple[int, int]], method: str = "auto") -> list[int]:
    """Per-image FLOPs for a list of LR sizes (h, w); see :func:`flops_per_image_report`."""
    return flops_per_image_report(model, list(sizes), method=method).flops
