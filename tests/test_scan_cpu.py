"""The fused CPU selective scan (registry/ops/scan_cpu.py) against the token-by-token recurrence and the
torch path, and its dispatch / fallback.

The extension is built once per test session (the ``ext`` fixture; ~40 s on two busy cores); without a
compiler or ninja the kernel tests are skipped; where both are there (CI, after the README's set-up) a
failed build fails them.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from protocol.cext import LazyExtension, toolchain_present
from registry.ops import scan as scan_mod
from registry.ops import scan_cpu
from registry.ops.scan import selective_scan, selective_scan_torch
from tests.test_scan import CASES, OPTIONS, _run, make, recurrence, rel_err

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ext():
    try:
        return scan_cpu.extension()
    except scan_cpu.ScanBuildError as e:
        if toolchain_present():  # a compiler and ninja are here (CI, after the README's set-up)
            pytest.fail(f"a compiler and ninja are here, yet the CPU scan kernel did not build: {e}")
        pytest.skip(str(e))


def kernel(**kw):
    return scan_cpu.selective_scan_cpp(**kw)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("opts", OPTIONS)
def test_matches_recurrence_float64(ext, case, opts):
    bsz, dim, N, L, groups = case
    inputs = make(bsz, dim, N, L, groups, torch.float64)
    (y, last), args = _run(inputs, opts, kernel, return_last_state=True)
    ref, ref_last = recurrence(**args, delta_softplus=opts[3])
    assert y.shape == (bsz, dim, L) and y.dtype == torch.float64 and last.shape == (bsz, dim, N)
    assert rel_err(y, ref) < 1e-10
    assert rel_err(last, ref_last) < 1e-10


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("opts", OPTIONS)
def test_matches_recurrence_float32(ext, case, opts):
    bsz, dim, N, L, groups = case
    inputs = make(bsz, dim, N, L, groups, torch.float32, seed=1)
    (y, last), args = _run(inputs, opts, kernel, return_last_state=True)
    ref, ref_last = recurrence(**args, delta_softplus=opts[3])
    assert y.dtype == torch.float32 and last.dtype == torch.float32
    assert rel_err(y, ref) < 1e-5
    assert rel_err(last, ref_last) < 1e-5


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("which", ["both", "B", "C"])
def test_constant_B_C(ext, dtype, tol, which):
    inputs = make(2, 6, 4, 40, dtype=dtype, const_bc=True)
    var = make(2, 6, 4, 40, dtype=dtype, seed=5)
    if which == "B":
        inputs["C"] = var["C"]
    elif which == "C":
        inputs["B"] = var["B"]
    y, last = kernel(**inputs, delta_softplus=True, return_last_state=True)
    ref, ref_last = recurrence(**inputs, delta_softplus=True)
    assert rel_err(y, ref) < tol and rel_err(last, ref_last) < tol


def test_long_sequence_65536(ext):
    bsz, dim, N, L = 1, 8, 16, 65536
    inputs = make(bsz, dim, N, L, dtype=torch.float32, seed=3)
    inputs["A"] = -torch.arange(1, N + 1, dtype=torch.float32).repeat(dim, 1)
    ref, _ = recurrence(**inputs, delta_softplus=True)
    assert rel_err(kernel(**inputs, delta_softplus=True), ref) < 1e-5
    y64 = kernel(**{k: v.double() for k, v in inputs.items()}, delta_softplus=True)
    assert rel_err(y64, ref) < 1e-10


def test_extreme_decays_stay_finite(ext):
    inputs = make(1, 4, 4, 3000, dtype=torch.float32, seed=4)
    inputs["delta"] = torch.where(torch.rand(1, 4, 3000) < 0.5, torch.full((1, 4, 3000), 200.0),
                                  torch.full((1, 4, 3000), 1e-6))
    y = kernel(**inputs)
    assert torch.isfinite(y).all()
    assert rel_err(y, recurrence(**inputs)[0]) < 1e-5


def test_softplus_over_its_whole_range(ext):
    """delta + bias from -100 to 100 (both softplus branches, log1p of tiny and of large values)."""
    inputs = make(1, 4, 4, 400, dtype=torch.float32, seed=6)
    inputs["delta"] = torch.linspace(-100, 100, 400).repeat(1, 4, 1)
    inputs["A"] = -torch.rand(4, 4) * 0.05
    y = kernel(**inputs, delta_softplus=True)
    assert rel_err(y, recurrence(**inputs, delta_softplus=True)[0]) < 1e-5


def test_half_precision_inputs_return_their_dtype(ext):
    inputs = make(1, 8, 4, 33, dtype=torch.float32)
    half = {k: v.to(torch.bfloat16) if k in ("u", "delta", "z") else v for k, v in inputs.items()}
    y = kernel(**half, delta_softplus=True)
    assert y.dtype == torch.bfloat16
    ref, _ = recurrence(**{k: v.float() for k, v in half.items()}, delta_softplus=True)
    assert rel_err(y, ref) < 2e-2


def test_empty_sequence(ext):
    x = make(2, 4, 3, 0, dtype=torch.float32)
    y, last = kernel(**x, delta_softplus=True, return_last_state=True)
    assert y.shape == (2, 4, 0) and last.shape == (2, 4, 3) and not last.any()


@pytest.mark.parametrize("threads", [1, 2])
def test_agrees_with_torch_path_on_strided_inputs(ext, threads):
    """Mamba-like layouts (delta, z and B/C token-major views, as registry/ops/mamba.py passes them),
    batch 2, 40 channels (two lane blocks and a partial one), threads 1 and 2."""
    g = torch.Generator().manual_seed(7)
    bsz, dim, N, L = 2, 40, 16, 300
    u = torch.randn(bsz, dim, L, generator=g)
    delta = (torch.randn(bsz, L, dim, generator=g) * 0.5 - 1).transpose(1, 2)
    z = torch.randn(bsz, L, 2 * dim, generator=g)[..., dim:].transpose(1, 2)
    dbl = torch.randn(bsz, L, 3 + 2 * N, generator=g)
    B, C = dbl[..., 3:3 + N].transpose(1, 2), dbl[..., 3 + N:].transpose(1, 2)
    A = -torch.exp(torch.randn(dim, N, generator=g))
    D, bias = torch.randn(dim, generator=g), torch.randn(dim, generator=g) * 0.3
    torch.set_num_threads(threads)
    y, last = kernel(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=bias, delta_softplus=True,
                     return_last_state=True)
    y_t, last_t = selective_scan_torch(u, delta, A, B, C, D, z, bias, True, return_last_state=True)
    assert rel_err(y, y_t) < 1e-5 and rel_err(last, last_t) < 1e-5


def test_bad_shapes_are_refused(ext):
    x = make(1, 6, 4, 10)
    with pytest.raises(ValueError):
        kernel(u=x["u"], delta=x["delta"], A=x["A"][:5], B=x["B"], C=x["C"])
    with pytest.raises(ValueError):
        kernel(u=x["u"], delta=x["delta"], A=x["A"], B=x["B"][..., :9], C=x["C"])


def test_dispatch_auto_and_forced(ext, monkeypatch):
    u = torch.zeros(1, 2, 3)
    monkeypatch.delenv("SRBENCH_SCAN", raising=False)
    assert scan_mod.backend_for(u) == "cpp"  # the kernel builds here
    monkeypatch.setenv("SRBENCH_SCAN", "cpp")
    assert scan_mod.backend_for(u) == "cpp"
    monkeypatch.setenv("SRBENCH_SCAN", "torch")
    assert scan_mod.backend_for(u) == "torch"
    x = make(1, 4, 3, 20, dtype=torch.float32)
    monkeypatch.setenv("SRBENCH_SCAN", "cpp")
    y_cpp = selective_scan(**x, delta_softplus=True)
    assert rel_err(y_cpp, recurrence(**x, delta_softplus=True)[0]) < 1e-5


def test_one_traced_node_with_the_kernel(ext, monkeypatch):
    monkeypatch.setenv("SRBENCH_SCAN", "cpp")
    x = make(1, 4, 3, 12, dtype=torch.float32)

    def f(u, delta, A, B, C, D, z, bias):
        return selective_scan(u, delta, A, B, C, D, z, bias, True)

    args = (x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], x["z"], x["delta_bias"])
    graph = torch.jit.trace(f, args).graph
    nodes = [n for n in graph.nodes() if n.kind() == "prim::PythonOp"]
    assert len(nodes) == 1 and nodes[0].pyname() == "SelectiveScanFn"
    assert {n.kind() for n in graph.nodes()} <= {"prim::PythonOp", "prim::Constant"}


@pytest.fixture
def failing_build(monkeypatch):
    """A build that fails (as without a compiler), from a clean state; restored afterwards."""
    def boom():
        raise OSError("no C++ compiler here\nsecond line of the log")

    fresh = LazyExtension("srbench_scan_never_built", scan_cpu.EXTENSION.source, scan_cpu.EXTENSION.what)
    monkeypatch.setattr(fresh, "_build", boom)
    monkeypatch.setattr(scan_cpu, "EXTENSION", fresh)
    yield


def test_failed_build_falls_back_to_torch_with_one_warning(failing_build, monkeypatch):
    monkeypatch.delenv("SRBENCH_SCAN", raising=False)
    x = make(2, 6, 4, 30, dtype=torch.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y1 = selective_scan(**x, delta_softplus=True)
        y2 = selective_scan(**x, delta_softplus=True)
    ours = [w for w in caught if "fused CPU selective scan" in str(w.message)]
    assert len(ours) == 1 and "no C++ compiler here" in str(ours[0].message)
    assert "second line" not in str(ours[0].message)
    y_t = selective_scan_torch(**x, delta_softplus=True)
    assert torch.equal(y1, y_t) and torch.equal(y2, y_t)
    assert scan_mod.backend_for(x["u"]) == "torch"
    assert "no C++ compiler here" in scan_cpu.build_error()


def test_forced_cpp_with_failed_build_raises_one_line(failing_build, monkeypatch):
    monkeypatch.setenv("SRBENCH_SCAN", "cpp")
    x = make(1, 4, 3, 10, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError) as info:
            selective_scan(**x)
    msg = str(info.value)
    assert "SRBENCH_SCAN=cpp" in msg and "no C++ compiler here" in msg and "\n" not in msg


# --- the layout changes around the scan (registry/ops/mamba.py, registry/dvmsr.py) -------------------

def _mamba_contiguous(m, h):
    """registry.ops.mamba.Mamba.forward as it was before the channels-last layout (transposes and
    nn.Conv1d on channel-major x), for the equality check below."""
    import torch.nn.functional as F

    L = h.shape[1]
    xz = F.linear(h, m.in_proj.weight, m.in_proj.bias).transpose(1, 2)
    x, z = xz.chunk(2, dim=1)
    x = F.silu(m.conv1d(x)[..., :L])
    x_dbl = m.x_proj(x.transpose(1, 2))
    dt, B, C = torch.split(x_dbl, [m.dt_rank, m.d_state, m.d_state], dim=-1)
    dt = F.linear(dt, m.dt_proj.weight).transpose(1, 2)
    y = selective_scan(x, dt, -torch.exp(m.A_log.float()), B.transpose(1, 2), C.transpose(1, 2), m.D.float(),
                       z=z, delta_bias=m.dt_proj.bias.float(), delta_softplus=True)
    return m.out_proj(y.transpose(1, 2))


def _dvmsr_contiguous(net, x):
    """registry.dvmsr.DVMSR.forward as it was before (contiguous layouts, reshape copies)."""
    x = x - net.mean
    feat = net.conv_first(x)
    hw = (feat.shape[2], feat.shape[3])
    t = net.patch_embed.norm(feat.flatten(2).transpose(1, 2))
    for layer in net.layers:
        y = t
        for blk in layer.residual_group.blocks:
            y = _mamba_contiguous(blk.mixer, blk.norm(y))
        y = y.transpose(1, 2).reshape(t.shape[0], -1, *hw)
        t = layer.conv(y).flatten(2).transpose(1, 2) + t
    t = net.norm_f(t)
    out = net.conv_after_body(t.transpose(1, 2).reshape(feat.shape)) + feat
    return net.upsample(out) + net.mean


@pytest.mark.parametrize("scan", ["torch", "cpp"])
def test_dvmsr_layouts_keep_the_output(scan, monkeypatch, request):
    """DVMSR's channels-last views and split in_proj give the former forward's output (float32, batch 2,
    a non-square input, weights perturbed away from the init so every path matters)."""
    if scan == "cpp":
        request.getfixturevalue("ext")
    from registry.dvmsr import DVMSR

    monkeypatch.setenv("SRBENCH_SCAN", scan)
    torch.manual_seed(0)
    net = DVMSR(upscale=4, depths=(1, 1)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        x = torch.rand(2, 3, 20, 28)
        new, old = net(x), _dvmsr_contiguous(net, x)
    assert new.shape == old.shape == (2, 3, 80, 112) and new.is_contiguous()
    assert (new - old).abs().max().item() < 1e-5
