"""Model zoo part A: the IMDN -> RFDN -> RLFN line (IMDN, IMDN-ntire22, IMDN+, E-RFDN, RFDN, RLFN,
RLFN-S, RLFN-ntire, DIPNet, EFDN) and the shared blocks in ``registry/ops/blocks.py``.

Fast tests build the networks untrained on tiny tensors. Tests with real checkpoints (``weights_root``)
check strict loading against MANIFEST.tsv (parameter counts) and keys/*.txt (every tensor name and
shape), golden outputs, and the refusal of a wrong scale or an altered file.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import registry
from registry.ops import blocks
from registry.weights import WeightsError
from tests._golden import check_golden, golden_lr, sr_uint8

MODELS = ("IMDN", "IMDN-ntire22", "IMDN+", "E-RFDN", "RFDN", "RLFN", "RLFN-S", "RLFN-ntire", "DIPNet", "EFDN")
CHECKPOINTS = [  # (model, scale, file) as in MANIFEST.tsv
    ("IMDN", 2, "IMDN_x2.pth"), ("IMDN", 3, "IMDN_x3.pth"), ("IMDN", 4, "IMDN_x4.pth"),
    ("IMDN-ntire22", 4, "IMDN-ntire22_x4.pth"), ("IMDN+", 4, "IMDN-plus_x4.pth"),
    ("E-RFDN", 4, "E-RFDN_x4.pth"),
    ("RLFN", 2, "RLFN_x2.pth"), ("RLFN", 4, "RLFN_x4.pth"),
    ("RLFN-S", 2, "RLFN-S_x2.pth"), ("RLFN-S", 4, "RLFN-S_x4.pth"), ("RLFN-ntire", 4, "RLFN-ntire_x4.pth"),
    ("DIPNet", 4, "DIPNet_x4.pth"), ("EFDN", 2, "EFDN_x2.pth"), ("EFDN", 4, "EFDN_x4.pth"),
]
# Checkpoints whose authors' test code feeds [0, 255] (checked against published PSNR: RLFN Set5 x4 is
# 32.24 with 0-255 input and 27.67 with 0-1).
RANGE_255 = {"E-RFDN", "RLFN", "RLFN-S", "RLFN-ntire"}


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _manifest(weights_root: Path) -> dict[str, dict]:
    with open(weights_root / "MANIFEST.tsv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f, delimiter="\t")}


def _keys(weights_root: Path, file: str) -> dict[str, tuple[int, ...]]:
    out = {}
    for line in (weights_root / "keys" / (Path(file).stem + ".txt")).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, shape = line.split("\t")
        out[k] = tuple(int(v) for v in shape.strip("()").split(",") if v.strip())
    return out


# --------------------------------------------------------------------------------------------------
# Cards and untrained networks (no data needed)


def test_all_cards_registered():
    names = set(registry.names())
    assert set(MODELS) <= names
    assert registry.get("imdn+").name == "IMDN+"
    assert registry.get("rlfn-ntire").name == "RLFN-ntire"


@pytest.mark.parametrize("name", MODELS)
def test_card_metadata(name):
    card = registry.get(name)
    assert card.kind == "cnn"
    assert card.paper is not None and card.paper.url.startswith("https://arxiv.org/abs/")
    assert card.notes
    for w in card.weights:
        assert len(w.sha256) == 64
        assert w.url.startswith("https://raw.githubusercontent.com/") and w.license
        assert w.input_range == (255.0 if name in RANGE_255 else 1.0)
    for p in card.published:
        assert p.metric in ("y", "ntire_rgb") and p.source
        if p.metric == "y":
            assert p.gray == "rgb" and p.ssim is not None


@pytest.mark.parametrize("name,scale", [(c, s) for c in MODELS for s in registry.get(c).scales])
def test_untrained_forward_shape(name, scale):
    torch.manual_seed(0)
    net = registry.get(name).build(scale).eval()
    x = torch.rand(1, 3, 20, 17)
    with torch.inference_mode():
        y = net(x)
    assert y.shape == (1, 3, 20 * scale, 17 * scale)
    assert torch.isfinite(y).all()


def test_rfdn_paper_architecture_params():
    """The paper's RFDN (48 ch, 6 RFDBs): counts from an independent per-layer formula.

    The paper reports 534K / 541K / 550K; the built net is larger by exactly the ESA inner convs
    (conv_f, conv_max, conv2, conv3, conv3_) that the paper's count leaves out (see the card notes).
    """
    card = registry.get("RFDN")
    assert card.architecture_only and card.variants(4) == ["RFDN"]

    def conv(cin, cout, k):
        return cin * cout * k * k + cout

    def counts(c, scale, blocks=6):
        f, dc = c // 4, c // 2
        esa_inner = conv(f, f, 1) + 4 * conv(f, f, 3)
        esa = conv(c, f, 1) + esa_inner + conv(f, c, 1)
        block = 3 * conv(c, dc, 1) + 3 * conv(c, c, 3) + conv(c, dc, 3) + conv(2 * c, c, 1) + esa
        total = (conv(3, c, 3) + blocks * block + conv(blocks * c, c, 1) + conv(c, c, 3)
                 + conv(c, 3 * scale * scale, 3))
        return total, total - blocks * esa_inner

    for scale, paper_k in ((2, 534), (3, 541), (4, 550)):
        full, without_esa_inner = counts(48, scale)
        assert _params(card.build(scale)) == full
        assert round(without_esa_inner / 1000) == paper_k
    assert _params(card.build(4)) == 581_952
    # Same rule for the paper's RFDN-L (52 channels): 626K / 633K / 643K.
    assert [round(counts(52, s)[1] / 1000) for s in (2, 3, 4)] == [626, 633, 643]
    model = card.build_model(4)  # no checkpoint to load
    assert model.weights_sha256 == "" and model.input_range == 255.0


def test_wrong_scale_is_refused_by_name():
    for name, bad in (("RLFN", 3), ("IMDN+", 2), ("E-RFDN", 2), ("RFDN", 8), ("EFDN", 3)):
        with pytest.raises(ValueError, match=rf"{name}.*x{bad}"):
            registry.get(name).build_model(bad)


# --------------------------------------------------------------------------------------------------
# Shared blocks against independent formulations


def test_esa_matches_reference_formula():
    torch.manual_seed(0)
    esa = blocks.ESA(16).eval()
    x = torch.randn(2, 16, 23, 19)
    c1 = F.conv2d(x, esa.conv1.weight, esa.conv1.bias)
    v = F.max_pool2d(F.conv2d(c1, esa.conv2.weight, esa.conv2.bias, stride=2), 7, 3)
    v = torch.relu(F.conv2d(v, esa.conv_max.weight, esa.conv_max.bias, padding=1))
    v = torch.relu(F.conv2d(v, esa.conv3.weight, esa.conv3.bias, padding=1))
    v = F.conv2d(v, esa.conv3_.weight, esa.conv3_.bias, padding=1)
    v = F.interpolate(v, size=(23, 19), mode="bilinear", align_corners=False)
    m = torch.sigmoid(F.conv2d(v + F.conv2d(c1, esa.conv_f.weight, esa.conv_f.bias), esa.conv4.weight,
                               esa.conv4.bias))
    with torch.inference_mode():
        assert torch.allclose(esa(x), x * m, atol=1e-6)
    assert esa.conv1.out_channels == 4  # f = C // 4 by default


def test_esalite_and_cca():
    torch.manual_seed(0)
    lite = blocks.ESALite(10, 4)
    assert not hasattr(lite, "conv_max") and not hasattr(lite, "conv3_")
    x = torch.randn(1, 10, 16, 16)
    assert lite(x).shape == x.shape
    cca = blocks.CCALayer(32, reduction=16)
    x = torch.randn(2, 32, 5, 7)
    std = x.reshape(2, 32, -1).std(dim=2, unbiased=False)[..., None, None]
    w = cca.conv_du
    ref = x * torch.sigmoid(w[2](torch.relu(w[0](std + x.mean(dim=(2, 3), keepdim=True)))))
    assert torch.allclose(cca(x), ref, atol=1e-6)


def test_pixelshuffle_block_keys():
    head = blocks.pixelshuffle_block(8, 3, 3, bias=False)
    assert list(head.state_dict()) == ["0.weight"]
    assert head(torch.zeros(1, 8, 4, 5)).shape == (1, 3, 12, 15)


# --------------------------------------------------------------------------------------------------
# Real checkpoints


@pytest.mark.weights
@pytest.mark.parametrize("name,scale,file", CHECKPOINTS)
def test_checkpoint_strict_load_and_params(weights_root, name, scale, file):
    card = registry.get(name)
    wf = card.weight_file(scale)
    assert wf.file == file
    row = _manifest(weights_root)[file]
    assert wf.sha256 == row["sha256"]
    assert row["model"] == name and int(row["scale"]) == scale
    # Every tensor name and shape of the file (keys/*.txt) is the architecture's, prefix aside.
    expected = _keys(weights_root, file)
    if wf.strip_prefix:
        expected = {k.removeprefix(wf.strip_prefix): v for k, v in expected.items()}
    built = {k: tuple(v.shape) for k, v in card.build(scale).state_dict().items()}
    assert built == expected
    model = card.build_model(scale, weights_dir=weights_root)  # strict load after the sha256 check
    assert model.weights_sha256 == row["sha256"]
    assert _params(model) == int(row["n_params"])
    assert model.input_range == wf.input_range


@pytest.mark.weights
@pytest.mark.parametrize("name,scale,file", CHECKPOINTS)
def test_golden_output(weights_root, name, scale, file):
    model = registry.get(name).build_model(scale, weights_dir=weights_root)
    out = sr_uint8(model, golden_lr())
    assert out.shape == (32 * scale, 32 * scale, 3)
    check_golden(f"{model.variant}_x{scale}", out)


@pytest.mark.weights
def test_input_range_matters(weights_root):
    """The 0-255 checkpoints really need 0-255: fed [0, 1] they produce a visibly different image."""
    lr = golden_lr()
    for name in ("RLFN", "E-RFDN"):
        model = registry.get(name).build_model(4, weights_dir=weights_root)
        good = sr_uint8(model, lr).astype(float)
        model.input_range = 1.0
        bad = sr_uint8(model, lr).astype(float)
        assert abs(good - bad).mean() > 5, name


@pytest.mark.weights
def test_altered_checkpoint_is_refused_by_name(weights_root, tmp_path):
    card = registry.get("RLFN-ntire")
    wf = card.weight_file(4)
    dst = tmp_path / wf.file
    shutil.copyfile(weights_root / wf.file, dst)
    data = bytearray(dst.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dst.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"RLFN-ntire_x4\.pth.*sha256"):
        card.build_model(4, weights_dir=tmp_path)


@pytest.mark.weights
def test_missing_checkpoint_is_refused_by_name(tmp_path):
    with pytest.raises(WeightsError, match=r"IMDN_x3\.pth.*not found"):
        registry.get("IMDN").build_model(3, weights_dir=tmp_path)


@pytest.mark.weights
def test_checkpoint_of_another_scale_does_not_fit(weights_root, tmp_path):
    """A file for x2 put where the x4 file belongs: the hash check refuses it, naming the file."""
    card = registry.get("RLFN")
    shutil.copyfile(weights_root / "RLFN_x2.pth", tmp_path / "RLFN_x4.pth")
    with pytest.raises(WeightsError, match=r"RLFN_x4\.pth"):
        card.build_model(4, weights_dir=tmp_path)
    # A card that (wrongly) declares the x2 file for x4: the hash passes, the strict load fails and
    # the error names the file, the model and the scale.
    import dataclasses

    wf2 = card.weight_file(2)
    bad = dataclasses.replace(card, weights=(dataclasses.replace(wf2, scales=(4,)),))
    with pytest.raises(RuntimeError, match=r"RLFN_x2\.pth: does not fit RLFN x4"):
        bad.build_model(4, weights_dir=weights_root)


@pytest.mark.parametrize("name,acts_m,n_conv", [
    # NTIRE ESR harness numbers at a 3x256x256 input (PUBLISHED.tsv notes, PROTOCOL section 4,
    # xiumu00/DIPNet results.json): an architecture check independent of the checkpoints.
    ("RLFN-ntire", 80.05, 39), ("DIPNet", 72.97, 39), ("E-RFDN", 112.03, None), ("IMDN-ntire22", 154.14, None),
])
def test_ntire_activation_counts(name, acts_m, n_conv):
    net = registry.get(name).build(4).to("meta")
    total = [0, 0]

    def hook(_m, _i, out):
        total[0] += out.numel()
        total[1] += 1

    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, 3, 256, 256, device="meta"))
    assert round(total[0] / 1e6, 2) == acts_m
    if n_conv is not None:
        assert total[1] == n_conv
