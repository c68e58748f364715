"""NTIRE 2025 ESR Mamba entries: PFVM-ntire25 (team34) and MambaIRv2-light-ntire25 (team40).

Cards against MANIFEST, strict loading, parameter counts against MANIFEST, golden outputs made with
the organizers' own code (run outside the repository on the CPU, their ``mamba_ssm`` import served by
a plain sequential recurrence), FLOP-counter coverage, and structural checks of the scan directions.
"""

from __future__ import annotations

import pytest
import torch

import registry
from benchmark.flops import count_flops
from registry.ntire25_pfvm import SS2D
from tests import _ntire25
from tests._golden import check_golden, golden_lr, sr_uint8

pytestmark = pytest.mark.usefixtures("one_thread")

PFVM = "PFVM-ntire25"


# --------------------------------------------------------------------------- PFVM (team34)


def test_pfvm_card(weights_root):
    card = _ntire25.check_card(PFVM, 34, weights_root)
    assert card.kind == "mamba" and card.family == "PFVM"
    (wf,) = card.weights
    assert wf.state_key == "params" and wf.input_range == 1.0  # test_demo: ['params'], data_range 1.0
    assert card.config["params"] == 427848


def test_pfvm_loads_strictly(weights_root):
    model = _ntire25.check_loads_strictly(PFVM, weights_root)
    row = _ntire25.manifest(weights_root)["team34_PFVM.pth"]
    n = sum(p.numel() for p in model.net.parameters())
    assert n == int(row["n_params"]) == 427848  # every tensor of the file is a parameter
    assert "mean" not in model.net.state_dict()


def test_pfvm_golden(weights_root):
    """Golden PNG = the organizers' ``ParameterFreeVisionMamba`` (test_demo's strict ['params'] load)
    run on golden_lr() on the CPU, its selective scan a float64 sequential recurrence; srbench's
    network matched it to 7e-7 (one uint8 level at one rounding tie)."""
    model = registry.get(PFVM).build_model(4, weights_dir=weights_root)
    check_golden(f"{PFVM}_x4", sr_uint8(model, golden_lr()))


def test_pfvm_flops_classify_every_op():
    model = registry.get(PFVM).build_model(4, pretrained=False)
    rep = count_flops(model, size=(32, 32))
    assert rep.unknown == {}
    assert rep.by_op["selective_scan"] > 0 and rep.flops > rep.fvcore


def test_pfvm_layernorms_are_eps_1e5():
    net = registry.get(PFVM).build(4)
    eps = {m.eps for m in net.modules() if isinstance(m, torch.nn.LayerNorm)}
    assert eps == {1e-5}


def test_ss2d_is_transpose_equivariant():
    """Swapping the row-major and column-major directions' parameters (k 0<->1, 2<->3), transposing the
    depth-wise conv's kernels and transposing the input transposes the output: the four scan orders
    and their mapping back to row-major order are consistent."""
    torch.manual_seed(0)
    m = SS2D(8, d_state=4).double().eval()
    sw = SS2D(8, d_state=4).double().eval()
    sw.load_state_dict(m.state_dict())
    perm = [1, 0, 3, 2]
    d = m.d_inner
    with torch.no_grad():
        for name in ("x_proj_weight", "dt_projs_weight", "dt_projs_bias"):
            getattr(sw, name).copy_(getattr(m, name)[perm])
        sw.A_logs.copy_(m.A_logs.view(4, d, -1)[perm].reshape(4 * d, -1))
        sw.Ds.copy_(m.Ds.view(4, d)[perm].reshape(-1))
        sw.conv2d.weight.copy_(m.conv2d.weight.transpose(2, 3))  # the depth-wise 3x3 sees x transposed
        x = torch.randn(1, 5, 7, 8, dtype=torch.float64)
        y = m(x)
        y_t = sw(x.transpose(1, 2))
    torch.testing.assert_close(y_t.transpose(1, 2), y, rtol=1e-10, atol=1e-10)
