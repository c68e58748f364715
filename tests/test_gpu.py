"""GPU checks of the profiler (``pytest -m gpu``); every test skips with a reason when CUDA is absent."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.profile import ModelSpec, ProfileOptions
from benchmark.profile_run import profile_isolated
from benchmark.timing import forward_timer, measure_runtime

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (no GPU on this machine)"),
]

FAST = dict(size=(64, 64), min_repeats=5, max_repeats=20, min_time_s=0.2, warmup_batch=3, warmup_max_s=5.0)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 16, 3, padding=1)
        self.d = nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, x):
        return self.d(torch.relu(self.c(x)))


def build_net() -> nn.Module:
    return _Net()


def test_forward_timer_uses_cuda_events():
    x = torch.randn(2048, 2048, device="cuda")
    timer = forward_timer("cuda")
    assert timer.cuda
    timer(torch.matmul, x, x)  # cuBLAS set-up
    torch.cuda.synchronize()
    out, ms = timer(torch.matmul, x, x)
    assert out.is_cuda and ms > 0
    # the event time covers the kernel, not just the launch: 10 matmuls take longer than 1
    _, ms10 = timer(lambda: [torch.matmul(x, x) for _ in range(10)])
    assert ms10 > 3 * ms


def test_measure_runtime_on_cuda():
    x = torch.randn(1024, 1024, device="cuda")
    st = measure_runtime(lambda: x @ x, "cuda", repeats=20)
    assert st.runs == 20 and 0 < st.p10_ms <= st.median_ms <= st.p90_ms


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_profile_on_cuda_memory_and_precision(precision):
    opts = ProfileOptions(device="cuda", precision=precision, channels_last=precision == "fp16", **FAST)
    row = profile_isolated(ModelSpec("net", 1, builder=build_net), opts, timeout_s=300)
    assert row["device"] == "cuda" and row["precision"] == precision
    assert row["memory_kind"] == "cuda_max_allocated"
    elem = 2 if precision != "fp32" else 4
    # at least the 16-channel feature map of the forward pass must have been allocated
    assert row["memory_mb"] >= 16 * 64 * 64 * elem / 2**20
    assert row["runtime_p10_ms"] <= row["runtime_ms"] <= row["runtime_p90_ms"]
    assert row["cuda_version"] and row["device_name"]


def test_registered_models_profile_on_cuda():
    import registry

    names = [n for n in ("RLFN-ntire", "E-RFDN", "DVMSR") if n in registry.names()]
    opts = ProfileOptions(device="cuda", size=(256, 256), min_repeats=10, max_repeats=50, min_time_s=1.0)
    for name in names:
        row = profile_isolated(ModelSpec(name, 4), opts, timeout_s=600)
        assert row["runtime_ms"] > 0 and row["memory_mb"] > 0
        assert row["flops"] > 0 and not row["flops_unknown_ops"]


def test_compile_on_cuda():
    opts = ProfileOptions(device="cuda", compiled=True, **FAST)
    row = profile_isolated(ModelSpec("net", 1, builder=build_net), opts, timeout_s=600)
    assert row["compiled"] is True and row["runtime_ms"] > 0
