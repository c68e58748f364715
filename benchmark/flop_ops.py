"""The FLOP counter's op table (the rule is in :mod:`benchmark.flops`): handles for the ops stock fvcore
leaves at zero, and the names of the element-wise, reduction, max-pooling and data-movement ops.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS as DEFAULT_SUPPORTED_OPS  # fvcore's stock handles

NTIRE_INPUT = (256, 256)
SCAN_OP = "prim::PythonOp.SelectiveScanFn"

# ---------------------------------------------------------------------------------------------
# op classification


def shape_of(val: Any) -> list[int] | None:
    """The static shape of a JIT value, or ``None`` if the trace did not record one."""
    try:
        if val.isCompleteTensor():
            return list(val.type().sizes())
    except RuntimeError:
        return None
    return None


def numel_of(val: Any) -> int:
    s = shape_of(val)
    return math.prod(s) if s is not None else 0


def ints_of(val: Any) -> list[int]:
    """A constant int or int-list argument of a JIT node (e.g. a pooling kernel size)."""
    node = val.node()
    if node.kind() == "prim::ListConstruct":
        return [int(i.toIValue()) for i in node.inputs()]
    v = val.toIValue()
    if v is None:
        return []
    return [int(v)] if isinstance(v, int) else [int(i) for i in v]


def selective_scan_flops(batch: int, dim: int, length: int, state: int, with_d: bool = True,
                         with_z: bool = True) -> int:
    """The VMamba / MambaIR count for one selective scan: 9*B*L*D*N (+ B*D*L for D, + B*D*L for z)."""
    flops = 9 * batch * length * dim * state
    if with_d:
        flops += batch * dim * length
    if with_z:
        flops += batch * dim * length
    return flops


def _python_op_args(node: Any) -> list[Any]:
    """A PythonOp's arguments in call order: JIT values for tensors, Python values for the rest."""
    tensors = iter(node.inputs())
    scalars = iter(node.scalar_args())
    return [next(tensors) if c == "d" else next(scalars) for c in node.cconv()]


def _scan_handle(inputs: list[Any], outputs: list[Any]) -> Counter:
    node = outputs[0].node()
    args = _python_op_args(node)
    # SelectiveScanFn.apply(u, delta, A, B, C, D=None, z=None, delta_bias=None, ...)
    u_shape = shape_of(args[0]) or shape_of(outputs[0])
    a_shape = shape_of(args[2])
    if u_shape is None or a_shape is None or len(u_shape) != 3 or len(a_shape) != 2:
        raise ValueError(f"{SCAN_OP}: expected u (B, D, L) and A (D, N), got {u_shape} and {a_shape}")
    b, d, length = u_shape
    n = a_shape[1]

    def given(i: int) -> bool:
        return len(args) > i and args[i] is not None and not isinstance(args[i], (bool, int, float))

    return Counter({"selective_scan": selective_scan_flops(b, d, length, n, given(5), given(6))})


def _conv_mode_handle(inputs: list[Any], outputs: list[Any]) -> Counter:
    # aten::_convolution_mode(input, weight, bias, stride, padding: str, dilation, groups)
    w, out = shape_of(inputs[1]), shape_of(outputs[0])
    return Counter({"convolution_mode": math.prod(out) * math.prod(w[1:])})


def _sdpa_handle(inputs: list[Any], outputs: list[Any]) -> Counter:
    q, k, v = (shape_of(x) for x in inputs[:3])
    batch = math.prod(q[:-2])
    lq, e, lk, ev = q[-2], q[-1], k[-2], v[-1]
    return Counter({"attention": batch * lq * lk * (e + ev)})


def _baddbmm_handle(inputs: list[Any], outputs: list[Any]) -> Counter:
    # (input, batch1, batch2, beta, alpha): batch1 (b, n, m) @ batch2 (b, m, p)
    b1, b2 = shape_of(inputs[1]), shape_of(inputs[2])
    return Counter({outputs[0].node().kind().split("::")[-1]: math.prod(b1) * b2[-1]})


def _addmv_handle(inputs: list[Any], outputs: list[Any]) -> Counter:
    return Counter({"addmv": numel_of(inputs[1])})


def _mv_handle(inputs: list[Any], outputs: list[Any]) -> Counter:
    return Counter({outputs[0].node().kind().split("::")[-1]: numel_of(inputs[0])})


def _taps_handle(name: str, taps: int):
    def handle(inputs: list[Any], outputs: list[Any]) -> Counter:
        return Counter({name: taps * numel_of(outputs[0])})
    return handle


def _avg_pool_handle(inputs: list[Any], outputs: list[Any]) -> Counter:
    k = ints_of(inputs[1])
    dims = len(shape_of(outputs[0]) or []) - 2 if shape_of(outputs[0]) else len(k)
    if len(k) == 1 and dims > 1:
        k = k * dims
    return Counter({"avg_pool": numel_of(outputs[0]) * math.prod(k)})


EXTRA_COUNTED = {
    SCAN_OP: _scan_handle,
    "aten::_convolution_mode": _conv_mode_handle,
    "aten::scaled_dot_product_attention": _sdpa_handle,
    "aten::baddbmm": _baddbmm_handle,
    "aten::addbmm": _baddbmm_handle,
    "aten::addmv": _addmv_handle,
    "aten::mv": _mv_handle,
    "aten::dot": _mv_handle,
    "aten::upsample_bicubic2d": _taps_handle("upsample_bicubic2d", 16),
    "aten::upsample_linear1d": _taps_handle("upsample_linear1d", 2),
    "aten::upsample_nearest1d": _taps_handle("upsample_nearest1d", 1),
    "aten::upsample_nearest3d": _taps_handle("upsample_nearest3d", 1),
    "aten::upsample_trilinear3d": _taps_handle("upsample_trilinear3d", 8),
    "aten::avg_pool1d": _avg_pool_handle,
    "aten::avg_pool2d": _avg_pool_handle,
    "aten::avg_pool3d": _avg_pool_handle,
}

# fvcore's stock handles name their result by the op without its namespace (or 'conv').
STOCK_KEYS = {"conv"} | {k.split("::", 1)[1] for k in DEFAULT_SUPPORTED_OPS}

# Element-wise arithmetic: one FLOP per output element in the estimate.
ELEMENTWISE = {
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "true_divide", "neg", "abs",
    "pow", "sqrt", "rsqrt", "exp", "exp2", "expm1", "log", "log1p", "log2", "reciprocal", "square",
    "sigmoid", "sigmoid_", "tanh", "tanh_", "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_",
    "gelu", "gelu_", "silu", "silu_", "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_",
    "hardtanh", "hardtanh_", "softplus", "elu", "elu_", "selu", "celu", "prelu", "_prelu_kernel",
    "mish", "threshold", "erf", "sin", "cos", "sign", "round", "floor", "ceil", "trunc", "frac",
    "clamp", "clamp_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "maximum", "minimum",
    "softmax", "log_softmax", "_softmax", "lerp", "addcmul", "addcdiv", "fmod", "remainder",
    "floor_divide", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
    "__and__", "__or__", "bitwise_not", "bitwise_and", "bitwise_or", "glu", "logit", "atan2",
    "nan_to_num", "heaviside", "xlogy", "hypot", "scatter_add", "scatter_add_", "index_add",
    "index_add_", "scatter_reduce", "scatter_reduce_", "cumulative_trapezoid",
}
# Reductions: one FLOP per input element.
REDUCTIONS = {
    "mean", "sum", "prod", "std", "var", "var_mean", "std_mean", "norm", "linalg_vector_norm",
    "frobenius_norm", "max", "min", "amax", "amin", "argmax", "argmin", "cumsum", "cumprod",
    "logsumexp", "all", "any", "aminmax", "linalg_norm",
}
MAX_POOL = {"max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "adaptive_max_pool2d",
             "adaptive_max_pool1d"}

# Pure data movement and tensor creation: no arithmetic, not listed.
DATA_MOVEMENT = {
    "Int", "ScalarImplicit", "Float", "Bool", "size", "numel", "dim", "arange", "linspace", "empty",
    "empty_like", "new_empty", "new_full", "new_zeros", "new_ones", "full", "full_like", "ones",
    "ones_like", "zeros", "zeros_like", "rand", "randn", "rand_like", "randn_like", "eye", "tensor",
    "scalar_tensor", "as_tensor", "cat", "concat", "stack", "hstack", "vstack", "chunk", "split",
    "split_with_sizes", "unsafe_split", "unsafe_chunk", "tensor_split", "unbind", "contiguous", "copy_",
    "clone", "detach", "detach_", "alias", "lift_fresh", "dropout", "dropout_", "feature_dropout",
    "expand", "expand_as", "broadcast_to", "broadcast_tensors", "flatten", "unflatten", "view",
    "view_as", "reshape", "reshape_as", "permute", "transpose", "transpose_", "t", "swapaxes",
    "movedim", "squeeze", "squeeze_", "unsqueeze", "unsqueeze_", "select", "slice", "narrow",
    "index", "index_select", "index_put", "index_put_", "gather", "scatter", "scatter_", "take",
    "masked_fill", "masked_fill_", "masked_select", "where", "nonzero", "roll", "flip", "repeat",
    "repeat_interleave", "tile", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
    "native_channel_shuffle", "constant_pad_nd", "pad", "reflection_pad1d", "reflection_pad2d",
    "replication_pad1d", "replication_pad2d", "replication_pad3d", "circular_pad2d", "_pad_circular",
    "im2col", "unfold", "diagonal", "tril", "triu", "to", "type_as", "_to_copy", "fill_", "zero_",
    "meshgrid", "as_strided", "view_as_real", "view_as_complex", "resolve_conj", "resolve_neg",
    "set_", "_unsafe_view", "_reshape_alias", "sort", "argsort", "topk", "lift_fresh_copy",
    "numpy_T", "mT", "align_corners", "one_hot",
}


def kind_base(kind: str) -> str:
    return kind.split("::", 1)[1] if "::" in kind else kind


class OpCollector:
    """Builds the handle table for one analysis and remembers what each handle saw."""

    def __init__(self) -> None:
        self.calls: Counter = Counter()  # element-wise/reduction/pool kind -> calls
        self.ew_flops: Counter = Counter()
        self.conv2d_calls = 0
        self.conv2d_outputs = 0

    def _conv(self, stock):
        def handle(inputs, outputs):
            out = shape_of(outputs[0])
            if out is not None and len(out) == 4:
                self.conv2d_calls += 1
                self.conv2d_outputs += math.prod(out)
            return stock(inputs, outputs)
        return handle

    def _elementwise(self, kind: str, per: str):
        def handle(inputs, outputs):
            out = shape_of(outputs[0]) if outputs else None
            if per == "input":
                src = next((x for x in inputs if shape_of(x) is not None), None)
                shape = shape_of(src) if src is not None else None
            else:
                shape = out
            if not shape:  # 0-d: shape bookkeeping, or no static shape (never on real tensors)
                if shape is None and out is None:
                    self.calls[kind] += 1
                return Counter()
            n = math.prod(shape)
            if per == "window":
                n = math.prod(out) * math.prod(ints_of(inputs[1]) or [1])
            self.calls[kind] += 1
            self.ew_flops[kind] += n
            return Counter()
        return handle

    def table(self) -> dict:
        ops: dict = dict(DEFAULT_SUPPORTED_OPS)
        ops.update(EXTRA_COUNTED)
        ops["aten::_convolution"] = self._conv(ops["aten::_convolution"])
        ops["aten::_convolution_mode"] = self._conv(ops["aten::_convolution_mode"])
        for base in ELEMENTWISE:
            ops[f"aten::{base}"] = self._elementwise(f"aten::{base}", "output")
        for base in REDUCTIONS:
            ops[f"aten::{base}"] = self._elementwise(f"aten::{base}", "input")
        for base in MAX_POOL:
            per = "window" if base.startswith("max_pool") else "input"
            ops[f"aten::{base}"] = self._elementwise(f"aten::{base}", per)
        return ops
