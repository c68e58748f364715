"""Model zoo part C: SPAN-ntire24, SPANtiny-ntire24, SAFMN-ntire23, FSRCNN and LMSWN (architecture only)."""

from __future__ import annotations

import csv
import glob

import numpy as np
import pytest
import torch
from torch import nn

import registry
from registry.fsrcnn import FSRCNN
from registry.lmswn import LMSWN, PARAMS
from registry.safmn import GRN, SAFMNNtire23
from registry.span import SPAN
from tests._golden import check_golden, golden_lr, sr_uint8

# (model, scale, checkpoint file) for every checkpoint of this part.
CHECKPOINTS = [
    ("SPAN-ntire24", 4, "SPAN-ntire24_x4.pth"),
    ("SPANtiny-ntire24", 4, "SPANtiny-ntire24_x4.pth"),
    ("SAFMN-ntire23", 4, "SAFMN-ntire23_x4.pth"),
    ("FSRCNN", 2, "FSRCNN_x2.pth"),
    ("FSRCNN", 3, "FSRCNN_x3.pth"),
    ("FSRCNN", 4, "FSRCNN_x4.pth"),
]


def _manifest(weights_root) -> dict[str, dict[str, str]]:
    with open(weights_root / "MANIFEST.tsv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def _keys_file(weights_root, file: str) -> dict[str, tuple[int, ...]]:
    out = {}
    for line in (weights_root / "keys" / file.replace(".pth", ".txt")).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")
        out[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return out


# ---------------------------------------------------------------- cards


def test_cards_registered():
    for name in ("SPAN-ntire24", "SPANtiny-ntire24", "SAFMN-ntire23", "FSRCNN", "LMSWN"):
        card = registry.get(name)
        assert card.kind == "cnn"
        assert card.paper is not None and card.paper.url.startswith("http")
        for w in card.weights:
            assert len(w.sha256) == 64 and w.url.startswith("https://raw.githubusercontent.com/")
            assert w.license
    assert registry.get("fsrcnn").colour == "y"
    assert registry.get("LMSWN").architecture_only
    assert registry.get("LMSWN").published == ()


def test_card_sha256_matches_manifest(weights_root):
    man = _manifest(weights_root)
    for name, scale, file in CHECKPOINTS:
        wf = registry.get(name).weight_file(scale)
        assert wf.file == file
        assert wf.sha256 == man[file]["sha256"]
        assert man[file]["source_commit"] in wf.url and man[file]["source_path"] in wf.url


def test_fsrcnn_published_rows_keep_their_sources():
    pub = registry.get("FSRCNN").published
    paper = [p for p in pub if "SAFMN" in p.source]
    reimpl = [p for p in pub if "yjn870" in p.source]
    assert len(paper) == 15 and len(reimpl) == 3
    assert {(p.scale, p.psnr) for p in reimpl} == {(2, 37.12), (3, 33.22), (4, 30.50)}
    assert all(p.ssim is None for p in reimpl)


# ---------------------------------------------------------------- architectures (no files needed)


def test_span_mean_is_not_state():
    net = SPAN(ch=28)
    assert "mean" not in net.state_dict()
    assert len(net.state_dict()) == 44


def test_span_concatenates_activated_tap():
    """The 4th concatenated map is SiLU(c1_r(.)) of block 6 (the authors' in-place SiLU)."""
    torch.manual_seed(0)
    net = SPAN(ch=8).eval()
    x = torch.rand(1, 3, 10, 12)
    seen = {}

    def keep(key, index):
        def hook(module, inputs, output):
            seen[key] = inputs[0] if index == "in" else output  # returns None: output unchanged
        return hook

    net.conv_cat.register_forward_hook(keep("cat", "in"))
    net.block_6.c1_r.register_forward_hook(keep("c1", "out"))
    net(x)
    torch.testing.assert_close(seen["cat"][:, 24:32], torch.nn.functional.silu(seen["c1"]))


def test_grn_zero_init_is_identity():
    x = torch.randn(2, 36, 5, 7)
    torch.testing.assert_close(GRN(36)(x), x)


def test_safmn_shape():
    out = SAFMNNtire23(scale=4)(torch.rand(1, 3, 16, 20))
    assert out.shape == (1, 3, 64, 80)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fsrcnn_shape_and_params(scale):
    net = FSRCNN(scale)
    assert net(torch.rand(1, 1, 7, 9)).shape == (1, 1, 7 * scale, 9 * scale)
    assert sum(p.numel() for p in net.parameters()) == 12809


def test_fsrcnn_srmodel_feeds_y_and_returns_rgb():
    card = registry.get("FSRCNN")
    model = card.build_model(3, pretrained=False)
    assert model.colour == "y"
    assert model(torch.rand(1, 3, 8, 10)).shape == (1, 3, 24, 30)


def _lmswn_params(scale: int, ch: int = 48, blocks: int = 4) -> int:
    """Closed form of the documented configuration, written independently of the module code."""
    d = ch // 4
    conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731
    stage = conv(ch, ch, 3) + conv(d, d, 1) + conv(ch - d, ch, 1)
    block = 3 * stage + conv(ch, d, 3) + conv(4 * d, ch, 1) + 2
    shallow = sum(conv(3, ch, k) for k in (3, 5, 7)) + conv(3 * ch, ch, 1)
    trunk = conv(blocks * ch, ch, 1) + conv(ch, ch, 3)
    return shallow + blocks * block + trunk + conv(ch, 3 * scale * scale, 3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lmswn_shape_and_params(scale):
    net = LMSWN(scale)
    n = sum(p.numel() for p in net.parameters())
    assert n == _lmswn_params(scale) == PARAMS[scale]
    assert registry.get("LMSWN").config["params"][scale] == n
    assert f"{n:,}" in registry.get("LMSWN").notes
    out = net(torch.rand(2, 3, 13, 17))
    assert out.shape == (2, 3, 13 * scale, 17 * scale)


def test_lmswn_branch_weights_are_learnable():
    net = LMSWN(4)
    names = {n for n, _ in net.named_parameters()}
    for k in range(4):
        assert {f"blocks.{k}.w_skip", f"blocks.{k}.w_body"} <= names


class _Shift(nn.Module):
    """Untrained nets output values around 0: shift by 0.5 so the uint8 golden keeps both signs."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x) + 0.5


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lmswn_golden(scale):
    torch.manual_seed(0)
    model = registry.get("LMSWN").build_model(scale)
    out = sr_uint8(_Shift(model), golden_lr())
    assert out.shape == (32 * scale, 32 * scale, 3)
    assert out.std() > 5  # the pinned output is not flat
    check_golden(f"LMSWN_x{scale}", out)


# ---------------------------------------------------------------- checkpoints


@pytest.mark.weights
@pytest.mark.parametrize("name,scale,file", CHECKPOINTS)
def test_checkpoint_strict_and_param_count(weights_root, name, scale, file):
    card = registry.get(name)
    model = card.build_model(scale, weights_dir=weights_root)  # strict=True inside
    n = sum(p.numel() for p in model.parameters())
    n_state = sum(v.numel() for v in model.net.state_dict().values())
    expected = int(_manifest(weights_root)[file]["n_params"])
    assert n == n_state == expected
    assert model.weights_sha256 == card.weight_file(scale).sha256
    # every key and shape as listed for the file
    state = {k: tuple(v.shape) for k, v in model.net.state_dict().items()}
    assert state == _keys_file(weights_root, file)


@pytest.mark.weights
@pytest.mark.parametrize("name,scale,file", CHECKPOINTS)
def test_checkpoint_golden(weights_root, name, scale, file):
    model = registry.get(name).build_model(scale, weights_dir=weights_root)
    out = sr_uint8(model, golden_lr())
    assert out.shape == (32 * scale, 32 * scale, 3)
    check_golden(f"{name}_x{scale}", out)


@pytest.mark.weights
@pytest.mark.data
@pytest.mark.parametrize("scale,readme", [(2, 37.12), (3, 33.22), (4, 30.50)])
def test_fsrcnn_reproduces_reimplementation_readme(weights_root, data_root, scale, readme):
    """Under the re-implementation's own evaluation (its prepare.py/train.py: PIL bicubic, HR
    *resized* to a multiple of the scale, float Y, whole-image PSNR, clamped float output) the served
    weights give its README's Set5 numbers, so they are the README's model."""
    from PIL import Image

    def y(img):  # the re-implementation's Y formula
        return 16.0 + (64.738 * img[..., 0] + 129.057 * img[..., 1] + 25.064 * img[..., 2]) / 256.0

    net = registry.get("FSRCNN").build_model(scale, weights_dir=weights_root).net
    psnrs = []
    for f in sorted(glob.glob(str(data_root / "Set5" / "HR" / "*.png"))):
        hr = Image.open(f).convert("RGB")
        w, h = hr.width // scale * scale, hr.height // scale * scale
        hr = hr.resize((w, h), resample=Image.BICUBIC)
        lr = hr.resize((w // scale, h // scale), resample=Image.BICUBIC)
        hy = y(np.asarray(hr).astype(np.float32)) / 255.0
        ly = y(np.asarray(lr).astype(np.float32)) / 255.0
        with torch.inference_mode():
            sr = net(torch.from_numpy(ly)[None, None].float()).clamp(0, 1)[0, 0].double().numpy()
        psnrs.append(10 * np.log10(1.0 / np.mean((hy - sr) ** 2)))
    assert abs(np.mean(psnrs) - readme) < 0.01
