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


def test_eval_on_cuda_scores_equal_the_cpu_path_and_the_hr_side_stays_on_the_device(tmp_path):
    """On CUDA the LR goes up once; forward, quantization, Y and the float64 PSNR/SSIM run on the
    device against an HR reference kept there; only the scores come back. They equal the CPU path's."""
    import registry
    from benchmark import data as data_mod
    from benchmark import worker
    from benchmark.plan import WorkItem
    from registry.base import ModelCard

    registry.names()
    registry.register(ModelCard(name="G-net", family="test", kind="other", paper=None, scales=(2,),
                                build=lambda scale: _Up(scale), weights=()))
    try:
        demo = data_mod.load("Demo")
        rows = {}
        for dev in ("cpu", "cuda", "cuda-again"):  # the second CUDA pass finds every reference cached
            if dev != "cuda-again":
                worker._CACHE.clear()
            task = worker.EvalTask(WorkItem("G-net", "G-net", "Demo", "bicubic", 2, "rgb"), demo.images[:3],
                                   str(tmp_path), str(tmp_path / "lr"), dev.split("-")[0], overlap=True)
            rows[dev] = [e for e in worker.run_eval_task(task) if e["event"] == "row"]
        on_gpu = sum(n for d, n in worker._CACHE.device_bytes.items() if d.startswith("cuda"))
        assert on_gpu > 0  # the references live on the GPU
        # memory_mb is the forward pass's own peak: the cached references are not in it
        for a, b in zip(rows["cuda"], rows["cuda-again"], strict=True):
            assert 0 < a["memory_mb"] and abs(a["memory_mb"] - b["memory_mb"]) < 1.0
        for c, g in zip(rows["cpu"], rows["cuda"], strict=True):
            assert c["status"] == g["status"] == "ok"
            assert abs(c["psnr"] - g["psnr"]) < 1e-6 and abs(c["ssim"] - g["ssim"]) < 1e-8
    finally:
        registry._CARDS.pop("g-net", None)
        worker._CACHE.clear()


class _Up(nn.Module):
    """Deterministic on both devices: a fixed 3x3 blur after a nearest-neighbour upsampling."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale
        self.blur = nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
        nn.init.constant_(self.blur.weight, 1 / 9)

    def forward(self, x):
        return self.blur(torch.nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest"))
