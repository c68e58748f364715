"""Model zoo part B: BSRN, BSRN-S (+ BSRN-S-ntire22), PAN, CARN-M, LatticeNet."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import registry
from registry.bsrn import BSConvU, BSConvULinear, _channel_std
from registry.carn import CARNM
from registry.latticenet import CC
from registry.pan import PAN
from tests._golden import check_golden, golden_lr, sr_uint8

# (model, variant or None, scale, checkpoint file): every checkpoint of this part, and every
# (variant, scale) pair that gets a golden output.
CHECKPOINTS = [
    ("BSRN", None, 2, "BSRN_x2.pth"),
    ("BSRN", None, 3, "BSRN_x3.pth"),
    ("BSRN", None, 4, "BSRN_x4.pth"),
    ("BSRN-S", None, 4, "BSRN-S_x4.pth"),
    ("BSRN-S", "BSRN-S-ntire22", 4, "BSRN-S-ntire22_x4.pth"),
    ("PAN", None, 2, "PAN_x2.pth"),
    ("PAN", None, 3, "PAN_x3.pth"),
    ("PAN", None, 4, "PAN_x4.pth"),
    ("CARN-M", None, 2, "CARN-M_x234.pth"),
    ("CARN-M", None, 3, "CARN-M_x234.pth"),
    ("CARN-M", None, 4, "CARN-M_x234.pth"),
    ("LatticeNet", None, 2, "LatticeNet_x2.pt"),
    ("LatticeNet", None, 3, "LatticeNet_x3.pt"),
    ("LatticeNet", None, 4, "LatticeNet_x4.pt"),
]
MODELS = ("BSRN", "BSRN-S", "PAN", "CARN-M", "LatticeNet")


def _manifest(weights_root) -> dict[str, dict[str, str]]:
    with open(weights_root / "MANIFEST.tsv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def _id(c) -> str:
    return f"{c[1] or c[0]}_x{c[2]}"


def _keep_input(store: dict, key: str):
    """A forward hook that records the module's first input and leaves its output alone."""

    def hook(module, inputs, output):
        store[key] = inputs[0]

    return hook


# ---------------------------------------------------------------- cards


def test_cards_registered():
    for name in MODELS:
        card = registry.get(name)
        assert card.kind == "cnn" and card.colour == "rgb"
        assert card.paper is not None and card.paper.url.startswith("https://")
        assert card.weights and card.notes
        for w in card.weights:
            assert len(w.sha256) == 64 and w.url.startswith("https://raw.githubusercontent.com/")
            assert w.license and w.source
    assert registry.get("BSRN").scales == (2, 3, 4)
    assert registry.get("bsrn-s").scales == (4,)
    assert registry.get("CARN-M").scales == (2, 3, 4)
    # The NTIRE checkpoint is a variant of BSRN-S, not a model of its own.
    card, variant = registry.resolve("BSRN-S-ntire22")
    assert card.name == "BSRN-S" and variant == "BSRN-S-ntire22"
    assert registry.get("BSRN-S").variants(4) == ["BSRN-S", "BSRN-S-ntire22"]
    # CARN-M: one multi-scale file.
    (wf,) = registry.get("CARN-M").weights
    assert wf.scales == (2, 3, 4)
    # Input ranges follow MANIFEST: LatticeNet sees [0, 255], the rest [0, 1].
    assert all(w.input_range == 255.0 for w in registry.get("LatticeNet").weights)
    for name in ("BSRN", "BSRN-S", "PAN", "CARN-M"):
        assert all(w.input_range == 1.0 for w in registry.get(name).weights)
    assert all(w.state_key == "params" for n in ("BSRN", "BSRN-S") for w in registry.get(n).weights)


def test_card_files_match_manifest(weights_root):
    man = _manifest(weights_root)
    for name, variant, scale, file in CHECKPOINTS:
        wf = registry.get(name).weight_file(scale, variant)
        assert wf.file == file
        row = man[file]
        assert wf.sha256 == row["sha256"]
        assert wf.url == (f"https://raw.githubusercontent.com/{row['source_repo']}/"
                          f"{row['source_commit']}/{row['source_path']}")
        assert row["model"] == name


def test_published_rows():
    pan = registry.get("PAN").published
    table = [p for p in pan if "SAFMN" in p.source]
    logs = [p for p in pan if "test_PANx" in p.source]
    assert len(table) == 15 and len(logs) == 15
    x3_manga = {p.source.split()[0]: p.psnr for p in pan if p.scale == 3 and p.dataset == "Manga109"}
    assert x3_manga == {"sunny2109/SAFMN": 33.61, "zhaohengyuan1/PAN": 33.583278}
    assert all(p.metric == "y" and p.gray == "rgb" for p in pan)

    bsrn = registry.get("BSRN").published
    assert {(p.dataset, p.psnr, p.ssim) for p in bsrn if p.scale == 4} >= {("Set5", 32.35, 0.8966),
                                                                           ("Urban100", 26.27, 0.7908)}
    bsrn_s = registry.get("BSRN-S").published
    ntire = [p for p in bsrn_s if p.metric == "ntire_rgb"]
    assert {(p.dataset, p.psnr) for p in ntire} == {("DIV2K_valid", 29.01), ("DIV2K_test", 28.69)}
    assert all(p.variant == "BSRN-S-ntire22" for p in ntire)
    for name in ("CARN-M", "LatticeNet"):
        rows = registry.get(name).published
        assert len(rows) == 12 and {p.scale for p in rows} == {2, 3, 4}
    assert {p.psnr for p in registry.get("LatticeNet").published if p.dataset == "Set5"} == {
        38.15, 34.53, 32.30}
    assert {p.psnr for p in registry.get("CARN-M").published if p.dataset == "Urban100"} == {
        31.23, 27.55, 25.62}


# ---------------------------------------------------------------- scales


@pytest.mark.parametrize("name,bad", [("BSRN", 8), ("BSRN-S", 2), ("BSRN-S", 3), ("PAN", 8),
                                      ("CARN-M", 8), ("LatticeNet", 1)])
def test_wrong_scale_names_the_model(name, bad):
    with pytest.raises(ValueError, match=rf"model {name} does not support scale x{bad}"):
        registry.get(name).build_model(bad, pretrained=False)


def test_bare_networks_refuse_unknown_scales():
    with pytest.raises(ValueError, match="CARN-M"):
        CARNM(scale=8)
    with pytest.raises(ValueError, match="PAN"):
        PAN(scale=8)


# ---------------------------------------------------------------- architecture facts (no files)


def test_bsconv_linear_equals_conv_form():
    """A Linear point-wise layer over channels is the 1x1 conv with the same weights plus bias."""
    torch.manual_seed(0)
    lin = BSConvULinear(6, 5)
    conv = BSConvU(6, 5)
    with torch.no_grad():
        conv.pw.weight.copy_(lin.pw.weight[:, :, None, None])
        conv.dw.load_state_dict(lin.dw.state_dict())
    x = torch.randn(2, 6, 9, 7)
    bias_map = F.conv2d(lin.pw.bias.view(1, 5, 1, 1).expand(2, 5, 9, 7), lin.dw.weight, None, 1, 1, 1, 5)
    torch.testing.assert_close(lin(x), conv(x) + bias_map, rtol=1e-5, atol=1e-5)


def test_cca_uses_population_std():
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    ref = np.std(x.numpy().reshape(2, 3, -1), axis=2, ddof=0)
    torch.testing.assert_close(_channel_std(x).view(2, 3), torch.from_numpy(ref))


def test_lattice_cc_uses_unbiased_std():
    """torch.std's default (ddof=1) feeds the std branch: check it against numpy."""
    torch.manual_seed(0)
    cc = CC(32).double()
    x = torch.randn(1, 32, 6, 5, dtype=torch.float64)
    seen = {}
    cc.conv_std[0].register_forward_hook(_keep_input(seen, "in"))
    cc(x)
    ref = np.std(x.numpy().reshape(32, -1), axis=1, ddof=1)
    torch.testing.assert_close(seen["in"].flatten(), torch.from_numpy(ref))


def test_bsrn_replicates_input_to_12_channels():
    net = registry.get("BSRN").build(4)
    assert net.fea_conv.pw.in_channels == 12
    x = torch.rand(1, 3, 16, 16)
    seen = {}
    net.fea_conv.register_forward_hook(_keep_input(seen, "in"))
    net(x)
    torch.testing.assert_close(seen["in"], x.repeat(1, 4, 1, 1))


def test_pan_global_skip_is_bilinear():
    """With the last conv zeroed, PAN returns the bilinear upsampling of its input."""
    for scale in (2, 3, 4):
        net = PAN(scale=scale).eval()
        with torch.no_grad():
            net.conv_last.weight.zero_()
            net.conv_last.bias.zero_()
        x = torch.rand(1, 3, 7, 6)
        ref = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        torch.testing.assert_close(net(x), ref)


def test_carn_m_uses_only_its_upsampler_and_shares_block_weights():
    torch.manual_seed(0)
    net = CARNM(scale=3).eval()
    calls = {"up2": 0, "up3": 0, "up4": 0, "b1.b1": 0}

    def count(key):
        def hook(module, inputs, output):
            calls[key] += 1

        return hook

    for key in ("up2", "up3", "up4"):
        getattr(net.upsample, key).register_forward_hook(count(key))
    net.b1.b1.register_forward_hook(count("b1.b1"))
    out = net(torch.rand(1, 3, 5, 6))
    assert out.shape == (1, 3, 15, 18)
    # One upsampler runs; the cascading block applies its single residual block three times.
    assert calls == {"up2": 0, "up3": 1, "up4": 0, "b1.b1": 3}
    sd = net.state_dict()
    torch.testing.assert_close(sd["sub_mean.shifter.bias"], -torch.tensor([0.4488, 0.4371, 0.4040]))
    torch.testing.assert_close(sd["add_mean.shifter.bias"], torch.tensor([0.4488, 0.4371, 0.4040]))


def test_output_shapes():
    x = torch.rand(1, 3, 15, 17)  # ESA (BSRN) needs at least 15x15: stride-2 conv, then 7x7 max-pool
    for name in MODELS:
        card = registry.get(name)
        for s in card.scales:
            assert card.build(s)(x).shape == (1, 3, 15 * s, 17 * s), (name, s)


# ---------------------------------------------------------------- real checkpoints


@pytest.mark.weights
@pytest.mark.parametrize("case", CHECKPOINTS, ids=_id)
def test_checkpoint_loads_strictly_with_manifest_param_count(case, weights_root):
    name, variant, scale, file = case
    model = registry.get(name).build_model(scale, variant, weights_dir=weights_root)
    assert model.variant == (variant or name)
    n = sum(p.numel() for p in model.net.parameters())
    assert n == int(_manifest(weights_root)[file]["n_params"])
    # Nothing but parameters: every state entry is a parameter (no stray buffers).
    assert len(model.net.state_dict()) == int(_manifest(weights_root)[file]["n_tensors"])


@pytest.mark.weights
def test_bsrn_s_variants_differ(weights_root):
    a = registry.get("BSRN-S").build_model(4, weights_dir=weights_root)
    b = registry.get("BSRN-S").build_model(4, "BSRN-S-ntire22", weights_dir=weights_root)
    assert a.weights_sha256 != b.weights_sha256
    lr = golden_lr()
    with torch.inference_mode():
        assert (a(lr) - b(lr)).abs().max() > 1e-3


@pytest.mark.weights
def test_latticenet_sees_0_255(weights_root):
    """The wrapper feeds 0-255: the net's first layer receives the LR image times 255."""
    model = registry.get("LatticeNet").build_model(2, weights_dir=weights_root)
    seen = {}
    model.net.sub_mean.register_forward_hook(_keep_input(seen, "in"))
    lr = golden_lr()
    with torch.inference_mode():
        out = model(lr)
    torch.testing.assert_close(seen["in"], lr * 255)
    assert 0.0 < float(out.mean()) < 1.0


@pytest.mark.weights
@pytest.mark.parametrize("case", CHECKPOINTS, ids=_id)
def test_golden_output(case, weights_root, one_thread):
    name, variant, scale, _ = case
    model = registry.get(name).build_model(scale, variant, weights_dir=weights_root)
    out = sr_uint8(model, golden_lr())
    assert out.shape == (32 * scale, 32 * scale, 3)
    check_golden(f"{variant or name}_x{scale}", out)


# ---------------------------------------------------------------- published numbers (Set5, slow)


def _set5_scores(model: torch.nn.Module, scale: int, data_root, ensemble: bool = False) -> tuple[float, float]:
    from benchmark import data, degrade
    from protocol import metrics

    ps, ss = [], []
    for ref in data.load("Set5", data_root).images:
        hr = degrade.mod_crop(data.read_hr(ref).pixels, scale)
        lr = torch.from_numpy(degrade.bicubic_lr(hr, scale)).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            if ensemble:  # x8 geometric self-ensemble: 4 rotations x 2 flips, averaged
                outs = []
                for k in range(4):
                    for flip in (False, True):
                        t = torch.rot90(lr, k, (2, 3))
                        t = t.flip(3) if flip else t
                        o = model(t)
                        outs.append(torch.rot90(o.flip(3) if flip else o, -k, (2, 3)))
                sr = torch.stack(outs).mean(0)
            else:
                sr = model(lr)
        sr = (sr.clamp(0, 1) * 255).round().to(torch.uint8)
        hr_t = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1)[None]
        (s,) = metrics.psnr_ssim_y(sr, hr_t, border=scale)
        ps.append(s.psnr)
        ss.append(s.ssim)
    return float(np.mean(ps)), float(np.mean(ss))


def _published(name: str, scale: int, dataset: str, source_has: str) -> tuple[float, float]:
    (p,) = [p for p in registry.get(name).published
            if p.scale == scale and p.dataset == dataset and source_has in p.source]
    return p.psnr, p.ssim


@pytest.mark.slow
@pytest.mark.weights
@pytest.mark.data
@pytest.mark.parametrize("name,scale,source", [("BSRN", 4, "LKDN"), ("PAN", 2, "test_PANx2"),
                                               ("PAN", 3, "test_PANx3"), ("PAN", 4, "test_PANx4")])
def test_set5_reproduces_published(name, scale, source, weights_root, data_root, one_thread):
    model = registry.get(name).build_model(scale, weights_dir=weights_root)
    psnr, ssim = _set5_scores(model, scale, data_root)
    pub_psnr, pub_ssim = _published(name, scale, "Set5", source)
    assert abs(psnr - pub_psnr) <= 0.03 and abs(ssim - pub_ssim) <= 0.002, (psnr, ssim)


@pytest.mark.slow
@pytest.mark.weights
@pytest.mark.data
def test_latticenet_published_set5_needs_self_ensemble(weights_root, data_root, one_thread):
    """The card's explanation: one pass is ~0.12 dB short at x4; the x8 self-ensemble reproduces it."""
    model = registry.get("LatticeNet").build_model(4, weights_dir=weights_root)
    pub_psnr, pub_ssim = _published("LatticeNet", 4, "Set5", "Omni-SR")
    single, _ = _set5_scores(model, 4, data_root)
    assert pub_psnr - single > 0.08
    psnr, ssim = _set5_scores(model, 4, data_root, ensemble=True)
    assert abs(psnr - pub_psnr) <= 0.03 and abs(ssim - pub_ssim) <= 0.002, (psnr, ssim)
