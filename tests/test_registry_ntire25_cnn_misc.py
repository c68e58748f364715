"""NTIRE 2025 ESR entries, CNN group "misc": SAFMNv3 (team 19), MVFMNet (27), FEAN (42), TDESR (45), PAEDN (56).

The golden images ``tests/golden/<name>_x4.png`` were made with the *organizers' own classes*
(``models/teamNN_*.py`` of Amazingren/NTIRE2025_ESR@b69fb668c036, run on CPU in a scratch folder outside
this repository, built and loaded exactly as their ``test_demo.py`` does) on the golden 32x32 input: they
are an independent reference, and srbench's re-implementations must reproduce them to <= 1 level.
"""

from __future__ import annotations

import pytest
import torch

import registry
from benchmark.flops import count_flops
from tests import _ntire25
from tests._golden import check_golden, golden_lr, sr_uint8

# (card name, team number, checkpoint file in ntire2025/)
ENTRIES = [
    ("SAFMNv3-ntire25", 19, "team19_safmnv3.pth"),
    ("MVFMNet-ntire25", 27, "team27_MVFMNet.pth"),
]
NAMES = [e[0] for e in ENTRIES]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


# ---------------------------------------------------------------- cards


@pytest.mark.parametrize("name,team,file", ENTRIES)
def test_card(weights_root, name, team, file):
    card = _ntire25.check_card(name, team, weights_root)
    assert card.weights[0].file == f"ntire2025/{file}"
    assert card.kind == "cnn" and card.paper is not None
    assert card.challenge.solution == name.removesuffix("-ntire25")
    assert card.config["params"] == sum(p.numel() for p in card.build(4).parameters())


# ---------------------------------------------------------------- checkpoints


@pytest.mark.weights
@pytest.mark.parametrize("name,team,file", ENTRIES)
def test_loads_strictly(weights_root, name, team, file):
    model = _ntire25.check_loads_strictly(name, weights_root)
    row = _ntire25.manifest(weights_root)[file]
    state = _ntire25.checkpoint_tensors(name, weights_root)
    assert len(state) == int(row["n_tensors"])
    assert sum(v.numel() for v in state.values()) == int(row["n_params"])
    n = sum(p.numel() for p in model.net.parameters())
    assert n == registry.get(name).config["params"]
    assert n == int(row["n_params"]) - UNUSED_ELEMENTS.get(name, 0)


# Elements in the file that are not parameters of the network (see each card's notes).
UNUSED_ELEMENTS: dict[str, int] = {}


@pytest.mark.weights
@pytest.mark.parametrize("name", NAMES)
def test_golden_matches_organizers_code(weights_root, name):
    model = registry.get(name).build_model(4, weights_dir=weights_root)
    out = sr_uint8(model, golden_lr())
    assert out.shape == (128, 128, 3)
    check_golden(f"{name}_x4", out)


# ---------------------------------------------------------------- FLOPs


@pytest.mark.parametrize("name", NAMES)
def test_flops_fully_classified(name):
    torch.manual_seed(0)
    model = registry.get(name).build_model(4, pretrained=False)
    rep = count_flops(model, size=(32, 32))
    assert rep.unknown == {}
    assert rep.flops > 0


# count_flops at 1x3x256x256 (fvcore rule, PROTOCOL section 4), pinned: (GFLOPs, conv calls). The challenge
# report's per-team FLOPs/params tables could not be read here, so these pin srbench's own count (a change
# in the network or the counter must show); compare them with the report's table when it is at hand.
FLOPS_256 = {
    "SAFMNv3-ntire25": (9.42, 44),
    "MVFMNet-ntire25": (4.93, 68),
}


# Tracing at 256 x 256 takes 5-10 s per model on one busy core: part of the slow stage.
@pytest.mark.slow
@pytest.mark.parametrize("name", list(FLOPS_256))
def test_flops_at_256(name):
    gflops, convs = FLOPS_256[name]
    model = registry.get(name).build_model(4, pretrained=False)
    rep = count_flops(model)
    assert rep.input_shape == (1, 3, 256, 256)
    assert f"{rep.flops / 1e9:.2f}" == f"{gflops:.2f}"
    assert rep.num_conv == convs
    assert rep.unknown == {}


# ---------------------------------------------------------------- architecture facts


def test_safmnv3_variance_is_unbiased_and_global():
    """The pooled branch adds torch.var over the whole h x w map of x0 (unbiased) before conv3."""
    from registry.ntire25_safmnv3 import SimpleSAFM

    torch.manual_seed(0)
    m = SimpleSAFM(16, split=4).eval()
    x = torch.randn(1, 16, 16, 16)
    seen = {}
    m.conv3.register_forward_hook(lambda mod, inp, out: seen.__setitem__("in", inp[0]))
    m(x)
    x0 = m.conv1(x)
    pooled = m.dwconv(torch.nn.functional.adaptive_max_pool2d(x0, (2, 2)))
    v = ((x0 - x0.mean((2, 3), keepdim=True)) ** 2).sum((2, 3), keepdim=True) / (16 * 16 - 1)
    torch.testing.assert_close(seen["in"], pooled + v)


def test_mvfmnet_local_variance_windows():
    """The authors' windows: stride h // ph, size h - (ph - 1) * stride, top-left aligned, unbiased."""
    from registry.ntire25_mvfmnet import local_variance

    x = torch.randn(2, 3, 32, 30, dtype=torch.float64)
    v = local_variance(x, (32 // 5, 30 // 5))  # ph = 6, stride 5, window 7 (rows); pw = 6, stride 5, window 5
    assert v.shape == (2, 3, 6, 6)
    torch.testing.assert_close(v[:, :, 5, 5], x[:, :, 25:32, 25:30].var(dim=(-1, -2)))
    torch.testing.assert_close(v[:, :, 1, 2], x[:, :, 5:12, 10:15].var(dim=(-1, -2)))
    # (1, 1) is the global unbiased variance, SAFMNv3's statistic
    torch.testing.assert_close(local_variance(x, (1, 1)), x.var(dim=(-1, -2)).view(2, 3, 1, 1))


def test_mvfmnet_one_layernorm_per_block():
    net = registry.get("MVFMNet-ntire25").build(4)
    norms = [n for n, m in net.named_modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms == [f"feats.{i}.pixel_norm" for i in range(6)]
