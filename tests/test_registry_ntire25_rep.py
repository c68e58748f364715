"""NTIRE 2025 ESR re-parameterised CNN entries: RepRLFN (team 25), ARRLFN (30), ExpandRepNet (39), EECNet (47),
RCUNet (37).

Every checkpoint is a deployed (already folded) form that the organizers' ``test_demo.py`` loads strictly at
the top level with data_range 1.0, so there is no training form to fold and no deploy-equivalence test here.

The golden images ``tests/golden/<name>_x4.png`` were made with the organizers' own classes
(``models/teamNN_*.py`` of Amazingren/NTIRE2025_ESR@b69fb668, run on CPU in a scratch folder outside this
repository, constructor warm-up removed, ``torch.load(..., weights_only=True)`` + ``strict=True``) on the same
32x32 input; srbench's implementations matched them bit for bit (float max difference 0) when they were
written. They are therefore an independent reference, not a snapshot of srbench's own output.

``FVCORE_ORGANIZERS`` are fvcore's ``FlopCountAnalysis(...).total()`` at 1x3x256x256 (the counter the
NTIRE 2025 harness uses, README "How to calculate ... FLOPs") on those same organizers' classes: the
figure the harness prints for each entry. The challenge report's own tables could not be read here, so
they are not the report's published figures.
"""

from __future__ import annotations

import pytest
import torch

from benchmark.flops import count_flops
from tests import _ntire25
from tests._golden import check_golden, golden_lr, sr_uint8

# name -> (team number, checkpoint file)
ENTRIES = {
    "RepRLFN-ntire25": (25, "team25_RepRLFN.pth"),
    "ARRLFN-ntire25": (30, "team30_ARRLFN.pth"),
    "ExpandRepNet-ntire25": (39, "team39_ExpandRepNet.pth"),
    "EECNet-ntire25": (47, "team47_EECNet.pth"),
    "RCUNet-ntire25": (37, "team37_RCUNet.pth"),
}

# name -> (parameters, fvcore FLOPs at 3x256x256) of the organizers' class, measured as the module docstring says.
FVCORE_ORGANIZERS = {
    "RepRLFN-ntire25": (325_020, 20_310_736_776),
    "ARRLFN-ntire25": (71_964, 7_903_137_792),
    "ExpandRepNet-ntire25": (212_628, 13_855_236_096),
    "EECNet-ntire25": (209_744, 11_592_077_312),
    "RCUNet-ntire25": (212_944, 12_928_452_608),
}


def _keys(weights_root, file: str) -> dict[str, tuple[int, ...]]:
    out = {}
    for line in (weights_root / _ntire25.SUBDIR / "keys" / file.replace(".pth", ".txt")).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")
        out[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return out


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_card(weights_root, name):
    team, file = ENTRIES[name]
    card = _ntire25.check_card(name, team, weights_root)
    assert card.kind == "cnn" and card.name.endswith("-ntire25")
    (wf,) = card.weights
    assert wf.file == f"ntire2025/{file}"
    row = _ntire25.manifest(weights_root)[file]
    assert row["state_key_in_test_demo"] == "(top level)" and wf.state_key is None
    assert row["strict_in_test_demo"] == "True"
    assert wf.input_range == 1.0  # test_demo: data_range = 1.0
    assert row["source_commit"] in wf.url and row["source_commit"] in wf.source
    assert card.config["params"] == int(row["n_params"])


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_loads_strictly(weights_root, name):
    """Strict, weights_only load; every tensor of the file is a parameter (no buffers), so the parameter
    count equals MANIFEST's n_params, and the state dict has exactly the file's keys and shapes."""
    _, file = ENTRIES[name]
    model = _ntire25.check_loads_strictly(name, weights_root)
    n = sum(p.numel() for p in model.net.parameters())
    assert n == int(_ntire25.manifest(weights_root)[file]["n_params"])
    state = {k: tuple(v.shape) for k, v in model.net.state_dict().items()}
    assert state == _keys(weights_root, file)


@pytest.mark.weights
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_golden(weights_root, name):
    """Within one level of the organizers' own code's output (see the module docstring)."""
    model = registry_model(name, weights_root)
    out = sr_uint8(model, golden_lr())
    assert out.shape == (128, 128, 3)
    check_golden(f"{name}_x4", out)


def registry_model(name: str, weights_root):
    import registry

    return registry.get(name).build_model(4, weights_dir=weights_root)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_flops_classify_every_op(name):
    import registry

    torch.manual_seed(0)
    model = registry.get(name).build_model(4, pretrained=False)
    rep = count_flops(model, size=(32, 32))
    assert rep.unknown == {}


@pytest.mark.parametrize("name", sorted(FVCORE_ORGANIZERS))
def test_flops_match_the_organizers_class_under_fvcore(name):
    """count_flops at 256x256 (the default) gives the parameters and fvcore FLOPs of the organizers' class."""
    import registry

    params, fv = FVCORE_ORGANIZERS[name]
    torch.manual_seed(0)
    model = registry.get(name).build_model(4, pretrained=False)
    rep = count_flops(model)
    assert rep.input_shape == (1, 3, 256, 256)
    assert sum(p.numel() for p in model.net.parameters()) == params
    assert rep.fvcore == fv
    assert f"{fv / 1e9:.4f}" == f"{registry.get(name).config['flops_fvcore_256_G']:.4f}"
    assert rep.flops == rep.fvcore  # these CNNs use only ops stock fvcore counts
    assert rep.unknown == {}


def test_arrlfn_x4_is_the_x2_network_twice():
    from registry.ntire25_arrlfn import ARRLFN

    torch.manual_seed(0)
    net = ARRLFN(scale=4).eval()
    x = torch.rand(1, 3, 16, 18)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net.model(net.model(x)), rtol=0, atol=0)
    assert net(x).shape == (1, 3, 64, 72)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in net.model.parameters())


def test_rcunet_has_no_bias_and_slope_001():
    from registry.ntire25_rcunet import SLOPE, RCUNet

    net = RCUNet()
    assert not [k for k, _ in net.named_parameters() if k.endswith("bias")]
    assert SLOPE == 0.01


def test_eecnet_constructor_runs_nothing():
    """The organizers' constructor runs a CUDA warm-up forward; srbench's must not run any forward."""
    from registry.ntire25_eecnet import EECNet

    calls = []
    handle = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: calls.append(m))
    try:
        EECNet()
    finally:
        handle.remove()
    assert calls == []
