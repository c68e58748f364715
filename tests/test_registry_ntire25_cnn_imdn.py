"""NTIRE 2025 ESR entries of the IMDN/RFDN distillation line: HannahSR (team 13), FMDN (team 26), SGSDN
(team 18), IBMDN/DepthIBN (team 41), DAN (team 20).

The golden PNGs ``tests/golden/<name>_x4.png`` of these entries were written from the *organizers'* classes
(Amazingren/NTIRE2025_ESR@b69fb668 ``models/teamNN_*.py``, run on CPU in a scratch folder outside the
repository, with tiny stand-ins for ``einops.rearrange`` and ``mmcv.cnn.ConvModule``) on the same golden
input, not from srbench's code: they are an independent reference, and srbench's output matched them
exactly (0 levels) when they were made.
"""

from __future__ import annotations

import pytest
import torch

import registry
from benchmark.flops import count_flops
from tests import _ntire25
from tests._golden import check_golden, golden_lr, sr_uint8

# name, team, checkpoint file
ENTRIES = [
    ("HannahSR-ntire25", 13, "team13_HannahSR.pth"),
    ("FMDN-ntire25", 26, "team26_FMDN.pth"),
    ("SGSDN-ntire25", 18, "team18_SGSDN.pth"),
    ("DepthIBN-ntire25", 41, "team41_DepthIBN.pth"),
    ("DAN-ntire25", 20, "team20_DAN.pth"),
]


@pytest.mark.weights
@pytest.mark.parametrize("name,team,file", ENTRIES)
def test_card_agrees_with_manifest(weights_root, name, team, file):
    card = _ntire25.check_card(name, team, weights_root)
    assert card.weights[0].file == f"ntire2025/{file}"
    assert card.paper is not None and card.paper.url.startswith("https://arxiv.org/")


@pytest.mark.weights
@pytest.mark.parametrize("name,team,file", ENTRIES)
def test_loads_strictly_with_all_parameters(weights_root, name, team, file):
    """MANIFEST's n_params counts every tensor element of the loaded dict: for DepthIBN that includes 150
    BatchNorm buffer elements (running mean/var and num_batches_tracked of the six involutions' BN), so
    the comparison is with the whole state dict; the card's ``params`` are the parameters alone."""
    model = _ntire25.check_loads_strictly(name, weights_root)
    n = sum(p.numel() for p in model.net.parameters())
    n_state = sum(v.numel() for v in model.net.state_dict().values())
    assert n_state == int(_ntire25.manifest(weights_root)[file]["n_params"])
    assert registry.get(name).config["params"] == n
    assert n_state - n == (150 if name == "DepthIBN-ntire25" else 0)


@pytest.mark.weights
@pytest.mark.parametrize("name,team,file", ENTRIES)
def test_golden_from_organizers_code(weights_root, name, team, file, one_thread):
    model = registry.get(name).build_model(4, weights_dir=weights_root)
    out = sr_uint8(model, golden_lr())
    assert out.shape == (128, 128, 3)
    check_golden(f"{name}_x4", out)


@pytest.mark.parametrize("name", [e[0] for e in ENTRIES])
def test_flops_classify_every_op(name, one_thread):
    model = registry.get(name).build_model(4, pretrained=False)
    rep = count_flops(model, size=(32, 32))
    assert rep.unknown == {}, rep.unknown
    assert rep.flops > 0


# ---------------------------------------------------------------- architecture facts (no files needed)


def test_tlc_windows_cover_and_average():
    """TLC windows: a map bigger than the window is cut into overlapping windows whose merge is exact."""
    from registry.ops.ntire25_cnn_imdn import _starts, tlc_merge, tlc_windows

    assert _starts(32, 32) == [0]
    assert _starts(130, 96) == [0, 34]
    assert _starts(200, 96) == [0, 52, 104]
    x = torch.rand(2, 5, 110, 130)
    parts, plan = tlc_windows(x, 96)
    assert parts.shape == (2 * 4, 5, 96, 96)
    torch.testing.assert_close(tlc_merge(parts, plan), x)


def test_hannahsr_mean_not_in_state_and_tlc_in_eval():
    from registry.ntire25_hannahsr import HannahSR

    net = HannahSR()
    assert "mean" not in net.state_dict()
    assert sum(p.numel() for p in net.parameters()) == 59600
    attn = net.B1.ea.restormer_attn
    assert attn.tlc_kernel == 96


def test_fmdn_even_kernels_pad_after():
    """AFFN's (5, 2) / (2, 5) depth-wise convs use padding='same': PyTorch pads an even kernel 0 before
    and 1 after, so the output keeps the input size and the last row/column sees the zero pad."""
    from registry.ntire25_fmdn import FMDN

    net = FMDN().eval()
    conv = net.B1.ea.restormer_ffn.dwconv1
    x = torch.rand(1, conv.in_channels, 9, 7)
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 2, 2)), conv.weight, groups=conv.groups)
    torch.testing.assert_close(conv(x), ref)
    assert sum(p.numel() for p in net.parameters()) == 71525


def test_sgsdn_large_kernel_keeps_size():
    """LKA35's dilated (1, 11) / (11, 1) depth-wise convs are padded by 15 (= 3 * 5): sizes are kept."""
    from registry.ntire25_sgsdn import SGSDN

    net = SGSDN().eval()
    x = torch.rand(1, 24, 9, 13)
    assert net.feats[0].VA1.LKA35(x).shape == x.shape
    assert sum(p.numel() for p in net.parameters()) == 92592


def test_ibmdn_involution_matches_explicit_sum():
    """The involution weights each zero-padded 3x3 neighbourhood by a per-pixel kernel shared by 16 channels."""
    from registry.ntire25_ibmdn import Involution

    torch.manual_seed(0)
    inv = Involution(32).eval()
    x = torch.rand(1, 32, 5, 6)
    kern = inv.conv2(inv.conv1(x)).view(1, 2, 9, 5, 6)
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1))
    ref = torch.zeros_like(x)
    for c in range(32):
        for t in range(9):
            di, dj = divmod(t, 3)
            ref[0, c] += kern[0, c // 16, t] * xp[0, c, di:di + 5, dj:dj + 6]
    torch.testing.assert_close(inv(x), ref)


def test_dan_attention_uses_tlc_only_in_eval():
    """In eval mode DAN's channel attention is computed per TLC window (72 px); on a map of at most 72 px
    that is the whole-image attention, on a larger one it is not."""
    from registry.ntire25_dan import ChannelAttention

    torch.manual_seed(0)
    att = ChannelAttention(8)
    small, large = torch.rand(1, 8, 20, 30), torch.rand(1, 8, 20, 90)
    with torch.no_grad():
        att.train()
        whole_small, whole_large = att(small), att(large)
        att.eval()
        torch.testing.assert_close(att(small), whole_small)
        assert not torch.allclose(att(large), whole_large)
