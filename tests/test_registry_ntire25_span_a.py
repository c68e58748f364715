"""NTIRE 2025 ESR SPAN-style entries (part span-a): SPAN-ntire25 (team 46 = 51), DSCF (23), SPANF (24),
ESPAN (36), ESRNet (38), ECAS (52).

The golden images of this file were made by the organizers' own code (Amazingren/NTIRE2025_ESR
models/teamNN_*.py at b69fb668, run on CPU in a scratch folder with its ``.cuda()`` warm-up lines
patched out, loaded as test_demo.py loads each file) on ``golden_lr()``: an independent reference, not
an output of srbench's classes. When they were made, srbench's outputs equalled them exactly (float
difference 0.0 for every entry here); ``check_golden`` allows 1 level.

``ORGANIZERS_FVCORE`` are the FLOPs the challenge's method gives (fvcore ``FlopCountAnalysis(model,
rand(1, 3, 256, 256)).total()``, as test_demo.py counts them) for the organizers' classes, measured the
same way; the report's own FLOPs table was not reachable from srbench's sources.
"""

from __future__ import annotations

import pytest
import torch

import registry
from benchmark.flops import count_flops
from tests import _ntire25
from tests._golden import check_golden, golden_lr, sr_uint8

# card name -> (team number, checkpoint file in ntire2025/)
ENTRIES = {
    "SPAN-ntire25": (46, "team46_span.pth"),
    "DSCF-ntire25": (23, "team23_DSCF.pth"),
    "SPANF-ntire25": (24, "team24_spanf.pth"),
    "ESPAN-ntire25": (36, "team36_espan.pth"),
    "ESRNet-ntire25": (38, "team38_ESRNet.pth"),
    "ECAS-ntire25": (52, "team52_ECAS.pth"),
}

# fvcore totals at 1x3x256x256 of the organizers' classes (convolutions only; element-wise ops unsupported
# by stock fvcore count 0), and their parameter counts.
ORGANIZERS_FVCORE = {
    "SPAN-ntire25": (9_548_595_200, 146_328),
    "DSCF-ntire25": (8_535_015_424, 130_828),
    "SPANF-ntire25": (9_681_502_208, 148_288),
    "ESPAN-ntire25": (12_555_649_024, 192_272),
    "ESRNet-ntire25": (10_296_229_888, 157_772),
    "ECAS-ntire25": (19_563_807_520, 301_413),
}


@pytest.mark.parametrize("name", list(ENTRIES))
def test_card_matches_manifest(name, weights_root):
    team, file = ENTRIES[name]
    card = _ntire25.check_card(name, team, weights_root)
    (wf,) = card.weights
    assert wf.file == f"ntire2025/{file}"
    assert card.kind == "cnn" and card.paper is not None
    row = _ntire25.manifest(weights_root)[file]
    assert row["source_commit"] in wf.url and wf.source.endswith(row["source_path"])
    want_key = None if row["state_key_in_test_demo"] == "(top level)" else row["state_key_in_test_demo"]
    assert wf.state_key == want_key
    assert wf.input_range == 1.0  # test_demo data_range=1.0 for all of these


@pytest.mark.parametrize("name", list(ENTRIES))
def test_loads_strictly_with_manifest_params(name, weights_root):
    _, file = ENTRIES[name]
    model = _ntire25.check_loads_strictly(name, weights_root)
    n = sum(p.numel() for p in model.net.parameters())
    # every tensor in these files is a parameter (no buffers), so MANIFEST's count is the model's
    assert n == int(_ntire25.manifest(weights_root)[file]["n_params"])
    assert registry.get(name).config["params"] == n
    assert len(model.net.state_dict()) == int(_ntire25.manifest(weights_root)[file]["n_tensors"])


@pytest.mark.parametrize("name", list(ENTRIES))
def test_golden_output_from_organizers_code(name, weights_root, one_thread):
    model = registry.get(name).build_model(4, weights_dir=weights_root)
    check_golden(f"{name}_x4", sr_uint8(model, golden_lr()))


@pytest.mark.parametrize("name", list(ENTRIES))
def test_flops_classified_and_match_organizers_fvcore(name, one_thread):
    torch.manual_seed(0)
    model = registry.get(name).build_model(4, pretrained=False)
    assert count_flops(model, size=(32, 32)).unknown == {}
    rep = count_flops(model)  # 256x256, the challenge's input
    assert rep.input_shape == (1, 3, 256, 256)
    fv, params = ORGANIZERS_FVCORE[name]
    assert rep.fvcore == fv  # the organizers' counting method, same number
    assert sum(p.numel() for p in model.net.parameters()) == params
    assert registry.get(name).config["fvcore_flops_256"] == fv
    assert rep.flops == rep.fvcore  # nothing beyond stock fvcore: element-wise ops are listed, not counted


def test_span_ntire25_narrows_the_concatenation():
    net = registry.get("SPAN-ntire25").build(4)
    assert tuple(net.conv_cat.weight.shape) == (20, 112, 1, 1)
    assert tuple(net.upsampler[0].weight.shape) == (48, 20, 3, 3)
    assert "mean" not in net.state_dict()
    assert net(torch.rand(1, 3, 9, 11)).shape == (1, 3, 36, 44)


def test_dscf_is_span_tiny_layout(weights_root):
    """DSCF's file has the NTIRE 2024 SPAN-tiny names and shapes (fine-tuned values)."""
    dscf = _ntire25.checkpoint_tensors("DSCF-ntire25", weights_root)
    tiny = registry.get("SPANtiny-ntire24").build(4).state_dict()
    assert {k: tuple(v.shape) for k, v in dscf.items()} == {k: tuple(v.shape) for k, v in tiny.items()}


def test_spanf_first_block_has_no_attention_and_near_branch_copies(weights_root):
    from registry.ntire25_spanf import SPANF

    net = SPANF()
    assert not net.block_1.attention and net.block_2.attention
    # the file's conv_near is the one-hot centre tap: PixelShuffle of it is nearest-neighbour up-sampling
    w = _ntire25.checkpoint_tensors("SPANF-ntire25", weights_root)["conv_near.weight"]
    net.conv_near.weight.data.copy_(w)
    x = torch.rand(1, 3, 5, 6)
    near = torch.nn.functional.pixel_shuffle(net.conv_near(x), 4)
    torch.testing.assert_close(near, torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest"))


def test_esrnet_block7_is_scaled_by_1e5():
    """Zeroing block_7 moves ESRNet's output by at most ~1e-5 relative: its weight is the constant 1e-5."""
    torch.manual_seed(0)
    net = registry.get("ESRNet-ntire25").build(4).double().eval()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    seen = {}
    net.conv_cat.register_forward_hook(lambda m, i, o: seen.__setitem__("cat", i[0]))
    net.block_7.register_forward_hook(lambda m, i, o: seen.__setitem__("b7", o))
    net.conv_2.register_forward_hook(lambda m, i, o: seen.__setitem__("c2", o))
    net(x)
    torch.testing.assert_close(seen["cat"][:, 28:56], seen["c2"] + 1e-5 * seen["b7"], rtol=0, atol=1e-12)


def test_ecas_tap_is_raw_c1_and_eca_kernel():
    """ECAS concatenates block 6's raw c1_r output (before GCT/SiLU); the ECA conv1d has 5 taps."""
    from registry.ntire25_ecas import eca_kernel_size

    assert eca_kernel_size(160) == 5
    torch.manual_seed(0)
    net = registry.get("ECAS-ntire25").build(4).double().eval()
    assert tuple(net.conv.weight.shape) == (1, 1, 5)
    for p in net.parameters():  # GCT starts as the identity (gamma = beta = 0): perturb every parameter
        p.data.add_(0.1 * torch.randn_like(p))
    seen = {}
    net.block_6.c1_r.register_forward_hook(lambda m, i, o: seen.__setitem__("c1", o))
    net.conv_cat.register_forward_hook(lambda m, i, o: seen.__setitem__("in", i[0]))
    net(torch.rand(1, 3, 10, 12, dtype=torch.float64))
    # conv_cat reads c + c * gate: its channels 120..159 are c1 times a per-channel factor 1 + sigmoid(.)
    tap, c1 = seen["in"][:, 120:160], seen["c1"]
    factor = (tap * c1).sum((2, 3), keepdim=True) / (c1 * c1).sum((2, 3), keepdim=True)
    torch.testing.assert_close(tap, factor * c1, rtol=1e-9, atol=1e-9)
    assert (factor > 1).all() and (factor < 2).all()


def test_espan_concatenates_teacher_output():
    torch.manual_seed(0)
    net = registry.get("ESPAN-ntire25").build(4).eval()
    assert tuple(net.conv_1.eval_conv.weight.shape) == (32, 3, 9, 9)
    seen = {}
    net.teacher_block_seq.register_forward_hook(lambda m, i, o: seen.__setitem__("t", o))
    net.tea_conv_cat.register_forward_hook(lambda m, i, o: seen.__setitem__("cat", i[0]))
    net(torch.rand(1, 3, 9, 10))
    torch.testing.assert_close(seen["cat"][:, 96:128], seen["t"])
