"""DVMSR (two checkpoints), MambaCSR and CU-Mamba: strict loading, parameter counts by formula, shapes,
golden outputs, and MambaCSR's scan orders against a direct construction."""

from __future__ import annotations

import csv
import math

import pytest
import torch

import registry
from tests._golden import check_golden, golden_lr, sr_uint8

# many small ops: on a shared, busy CPU two OpenMP threads spin-wait and run ~10x slower than one
pytestmark = pytest.mark.usefixtures("one_thread")

# --------------------------------------------------------------------------- parameter formulas


def ln(c):
    return 2 * c


def lin(i, o, bias=True):
    return i * o + (o if bias else 0)


def conv(i, o, k, groups=1, bias=True):
    return i // groups * o * k * k + (o if bias else 0)


def mamba(d, N=16, d_conv=4, expand=2):
    """mamba_ssm Mamba(d_model=d): in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj."""
    E, R = expand * d, math.ceil(d / 16)
    return lin(d, 2 * E, False) + E * d_conv + E + lin(E, R + 2 * N, False) + lin(R, E) + E * N + E + lin(E, d, False)


def dvmsr_params(dim=60, depths=(2, 2, 2, 2), scale=4):
    vimm = mamba(dim) + ln(dim)
    rssb = sum(depths) * vimm + len(depths) * conv(dim, dim, 3)
    return conv(3, dim, 3) + ln(dim) + rssb + ln(dim) + conv(dim, dim, 3) + conv(dim, 3 * scale * scale, 3)


def mambacsr_params(d=180, depths=(6,) * 6, depths2=(6,), N=16):
    E, R = 2 * d, math.ceil(d / 16)

    def core(K):
        return (ln(E) + lin(d, 2 * E, False) + conv(E, E, 3, groups=E) + K * (R + 2 * N) * E + K * E * R + K * E
                + K * E * N + K * E + lin(E, d, False) + ln(E) + lin(E, E // 8) + lin(E // 8, E))

    cab = conv(d, d // 24, 3) + conv(d // 24, d, 3) + conv(d, d // 24, 1) + conv(d // 24, d, 1)
    rlmb = ln(d) + core(2) + d + cab + ln(d) + d + lin(d, 2 * d) + lin(2 * d, d)
    group = [n * rlmb + conv(d, d, 3) for n in depths]
    group2 = [n * rlmb + conv(d, d, 3) for n in depths2]
    cross = (core(4) + lin(d, 2 * E, False) + ln(d) + ln(d) + conv(E, E, 3, groups=E) + lin(d, 4 * d)
             + lin(4 * d, d) + 2 * d)
    head = conv(d, 64, 3) + 2 * conv(64, 256, 3) + conv(64, 3, 3)
    return (conv(3, d, 3) + ln(d) + ln(d) + sum(group) + sum(group2) + len(depths2) * cross + ln(d)
            + conv(d, d, 3) + head)


def cumamba_params(c=48, blocks=(4, 6, 6, 8), refinement=4, N=16, tok=16):
    def spatial(ch):
        E, R = 2 * ch, math.ceil(ch / 16)
        return (ln(ch) + conv(ch, 2 * E, 1, bias=False) + conv(E, E, 3, groups=E) + lin(E, R + 2 * N, False)
                + lin(R, E) + E * N + E + conv(E, ch, 1, bias=False))

    def channel(ch):
        return ln(ch) + lin(1, tok) + mamba(tok) + lin(tok, 1) + conv(ch, ch, 1)

    def stage(n, ch):
        return n * (spatial(ch) + channel(ch))

    c1, c2, c3, c4 = c, 2 * c, 4 * c, 8 * c
    n = conv(3, c1, 3) + stage(blocks[0], c1) + conv(c1, c1 // 2, 3) + stage(blocks[1], c2)
    n += conv(c2, c2 // 2, 3) + stage(blocks[2], c3) + conv(c3, c3 // 2, 3) + stage(blocks[3], c4)
    n += conv(c4, 2 * c4, 3) + conv(2 * c3, c3, 1) + stage(blocks[2], c3)
    n += conv(c3, 2 * c3, 3) + conv(2 * c2, c2, 1) + stage(blocks[1], c2)
    n += conv(c2, 2 * c2, 3) + stage(blocks[0], 2 * c1) + stage(refinement, 2 * c1) + conv(2 * c1, 3, 3)
    return n


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def manifest_row(weights_root, file):
    with open(weights_root / "MANIFEST.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["file"] == file:
                return row
    raise AssertionError(f"{file} not in MANIFEST.tsv")


# ------------------------------------------------------------------------------------------ DVMSR


def test_dvmsr_param_count_by_formula():
    assert dvmsr_params() == 424428
    assert n_params(registry.get("DVMSR").build(4)) == dvmsr_params()


def test_dvmsr_card():
    card = registry.get("dvmsr")
    assert card.kind == "mamba" and card.scales == (4,)
    assert card.variants() == ["DVMSR", "DVMSR-zoo"]
    assert registry.resolve("DVMSR-zoo") == (card, "DVMSR-zoo")
    zoo = card.weight_file(4, "DVMSR-zoo")
    assert zoo.state_key == "params_ema" and zoo.file == "DVMSR-zoo_x4.pth"
    assert card.weight_file(4).file == "DVMSR_x4.pth" and card.weight_file(4).variant is None
    assert all(p.metric == "ntire_rgb" for p in card.published) and len(card.published) == 3


@pytest.mark.weights
@pytest.mark.parametrize("variant,file", [(None, "DVMSR_x4.pth"), ("DVMSR-zoo", "DVMSR-zoo_x4.pth")])
def test_dvmsr_checkpoints_load_strictly(weights_root, variant, file):
    card = registry.get("DVMSR")
    row = manifest_row(weights_root, file)
    wf = card.weight_file(4, variant)
    assert wf.sha256 == row["sha256"]
    model = card.build_model(4, variant=variant, weights_dir=weights_root)  # strict=True inside
    assert n_params(model) == int(row["n_params"]) == 424428
    assert model.weights_sha256 == row["sha256"]
    name = variant or "DVMSR"
    out = sr_uint8(model, golden_lr())
    assert out.shape == (128, 128, 3)
    check_golden(f"{name}_x4", out)


@pytest.mark.weights
def test_dvmsr_checkpoints_differ(weights_root):
    """The two files are different trainings: their outputs must differ (a swapped file would not)."""
    card = registry.get("DVMSR")
    lr = golden_lr()
    a = sr_uint8(card.build_model(4, weights_dir=weights_root), lr)
    b = sr_uint8(card.build_model(4, variant="DVMSR-zoo", weights_dir=weights_root), lr)
    assert (a != b).mean() > 0.05


def test_dvmsr_forward_is_not_residual_inside_rssb():
    """Authors' wiring: an RSSB's ViMMs chain without their own skip (x -> mixer(norm(x)))."""
    from registry.dvmsr import _RSSB

    torch.manual_seed(0)
    blk = _RSSB(8, 2, 4, 1e-5).double().eval()
    x = torch.randn(1, 12, 8, dtype=torch.float64)
    with torch.no_grad():
        y = x
        for v in blk.residual_group.blocks:
            y = v.mixer(torch.nn.functional.layer_norm(y, (8,), v.norm.weight, v.norm.bias, 1e-5))
        ref = blk.conv(y.transpose(1, 2).reshape(1, 8, 3, 4)).flatten(2).transpose(1, 2) + x
        assert torch.allclose(blk(x, (3, 4)), ref, atol=1e-12)


# --------------------------------------------------------------------------------------- MambaCSR


def test_mambacsr_param_count_by_formula():
    from registry.mambacsr import MambaCSR

    card = registry.get("MambaCSR")
    assert card.architecture_only and card.scales == (4,) and card.kind == "mamba"
    n = n_params(card.build(4))
    assert n == mambacsr_params()
    assert f"{n:,}" in card.notes
    # the formula follows the configuration: a smaller one too
    assert n_params(MambaCSR(depths=(2, 4), depths2=(2,))) == mambacsr_params(depths=(2, 4), depths2=(2,))


def _window_order_direct(H, W, w, column_first, flip):
    """The window scan written as nested loops (pad token = H*W)."""
    Hg, Wg = -(-H // w), -(-W // w)
    seq = []
    outer = [(a, b) for b in range(Wg) for a in range(Hg)] if column_first else \
        [(a, b) for a in range(Hg) for b in range(Wg)]
    for a, b in outer:
        inner = [(i, j) for j in range(w) for i in range(w)] if column_first else \
            [(i, j) for i in range(w) for j in range(w)]
        for i, j in inner:
            h, x = a * w + i, b * w + j
            seq.append(h * W + x if h < H and x < W else H * W)
    return seq[::-1] if flip else seq


@pytest.mark.parametrize("H,W,w", [(8, 8, 4), (5, 7, 4), (16, 16, 8), (12, 20, 8), (3, 3, 64)])
@pytest.mark.parametrize("column_first", [False, True])
@pytest.mark.parametrize("flip", [False, True])
def test_mambacsr_window_order(H, W, w, column_first, flip):
    from registry.mambacsr import _inverse, _window_order

    order = _window_order(H, W, w, column_first, flip)
    assert order.tolist() == _window_order_direct(H, W, w, column_first, flip)
    inv = _inverse(order, H * W)
    assert order[inv].tolist() == list(range(H * W))  # the reverse puts every token back


@pytest.mark.parametrize("H,W", [(16, 16), (32, 48)])
@pytest.mark.parametrize("column_first", [False, True])
@pytest.mark.parametrize("flip", [False, True])
def test_mambacsr_cross_scale_order_is_position_aligned(H, W, column_first, flip):
    from registry.mambacsr import _cross_order

    order = _cross_order(H, W, 16, column_first, flip).view(-1, 5)
    hw = H * W
    assert sorted(order.flatten().tolist()) == list(range(hw + hw // 4))
    for row in order.tolist():
        lo, hi = row[0] - hw, row[1:]
        i, j = divmod(lo, W // 2)
        assert 0 <= lo < hw // 4
        assert sorted(hi) == sorted((2 * i + di) * W + 2 * j + dj for di in (0, 1) for dj in (0, 1))
    # within a cell the 2x2 pixels follow the scan's own order (row- or column-first, reversed if flipped)
    cell = [h - order[0, 1].item() for h in order[0, 1:].tolist()]
    want = [0, W, 1, W + 1] if column_first else [0, 1, W, W + 1]
    if flip:
        want = [x - want[-1] for x in reversed(want)]
    assert cell == want
    # the low-resolution tokens alone follow the (w/2)-window scan of the half-size map
    lo_seq = (order[:, 0] - hw).tolist()
    direct = _window_order_direct(H // 2, W // 2, 8, column_first, flip)
    assert lo_seq == direct


def test_mambacsr_dual_interleaved_directions():
    from registry.mambacsr import MambaCSR

    m = MambaCSR(depths=(6,), depths2=(1,))
    dirs = [b.self_attention.directions for b in m.layers[0].residual_group.blocks]
    assert dirs == [("w8", "w8_flip"), ("c_w8", "c_w8_flip"), ("w64", "w64_flip"), ("c_w64", "c_w64_flip"),
                    ("w8", "w8_flip"), ("c_w8", "c_w8_flip")]
    assert m.layers3[0].directions == ("w16", "w16_flip", "c_w16", "c_w16_flip")


def test_mambacsr_small_forward_on_real_lr():
    """The block types of the full model (all four scan pairs, cross-scale fusion), reduced width/depth."""
    from registry.mambacsr import MambaCSR

    torch.manual_seed(0)
    net = MambaCSR(embed_dim=36, depths=(4,), depths2=(1,)).eval()
    lr = golden_lr()[..., :20, :28]  # not a multiple of 16: padded and cropped back
    with torch.inference_mode():
        out = net(lr)
    assert out.shape == (1, 3, 80, 112) and torch.isfinite(out).all()


@pytest.mark.slow
def test_mambacsr_full_forward_on_real_lr():
    model = registry.get("MambaCSR").build_model(4)
    with torch.inference_mode():
        out = model(golden_lr())
    assert out.shape == (1, 3, 128, 128) and torch.isfinite(out).all()


# --------------------------------------------------------------------------------------- CU-Mamba


def test_cumamba_param_count_by_formula():
    from registry.cumamba import CUMamba

    card = registry.get("CU-Mamba")
    assert card.architecture_only and card.scales == (1, 2, 3, 4) and card.kind == "mamba"
    n = n_params(card.build(4))
    assert n == cumamba_params() == n_params(card.build(1))
    assert f"{n:,}" in card.notes
    assert n_params(CUMamba(dim=16, blocks=(1, 2, 1, 1), refinement=1)) == \
        cumamba_params(c=16, blocks=(1, 2, 1, 1), refinement=1)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_cumamba_forward_on_real_lr(scale):
    model = registry.get("CU-Mamba").build_model(scale)
    lr = golden_lr()[..., :8, :7]  # the full 18M-parameter network, on a small real crop
    with torch.inference_mode():
        out = model(lr)
    assert out.shape == (1, 3, 8 * scale, 7 * scale) and torch.isfinite(out).all()


def test_cumamba_sr_input_is_matlab_bicubic():
    """For SR the U-Net sees imresize_matlab(LR): with the net replaced by identity the output is that."""
    from protocol.imresize import imresize_matlab
    from registry.cumamba import CUMambaSR

    m = CUMambaSR(scale=3, dim=8, blocks=(1, 1, 1, 1), refinement=1)
    m.net = torch.nn.Identity()
    lr = golden_lr()[..., :7, :9]
    assert torch.allclose(m(lr), imresize_matlab(lr, 3).float(), atol=1e-6)
