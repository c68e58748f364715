"""LatticeNet: Towards Lightweight Image Super-resolution with Lattice Block (Luo et al., ECCV 2020).

Two head convs, four lattice blocks (two butterfly units each, with combination coefficients from
mean- and std-based channel attention), a backward feature fusion (``T_tdm``/``L_tdm`` 1x1 convs),
a conv + pixel-shuffle tail, and EDSR-style MeanShift convs at both ends. The net works on RGB in
[0, 255] (EDSR/RCAN framework, ``rgb_range`` 255). Written from the forward pass of
``ymff0592/super-resolution`` (``model/latticenet.py``), the repository the checkpoints come from.
"""

from __future__ import annotations

import torch
from torch import nn

from registry import register
from registry.base import ModelCard, Paper, Published, WeightFile

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def _mean_shift(rgb_range: float, sign: float) -> nn.Conv2d:
    """EDSR's MeanShift: a 1x1 conv initialised to identity weight and +-rgb_range*mean bias.

    In these checkpoints the two MeanShift convs were left trainable, so the stored weights are
    *not* the identity; loading the checkpoint replaces these initial values.
    """
    conv = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        conv.bias.copy_(sign * rgb_range * torch.tensor(DIV2K_MEAN))
    return conv


class CC(nn.Module):
    """Combination coefficient: the average of a mean-pooled and a std-pooled channel attention."""

    def __init__(self, nf: int, reduction: int = 16):
        super().__init__()

        def branch() -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(nf, nf // reduction, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(nf // reduction, nf, 1), nn.Sigmoid())

        self.conv_mean = branch()
        self.conv_std = branch()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = torch.std(x.reshape(n, c, -1), dim=2, keepdim=True).view(n, c, 1, 1)  # unbiased
        return (self.conv_mean(mean) + self.conv_std(std)) / 2.0


def _butterfly_convs(nf: int, nd: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(nf, nf - nd, 3, padding=1), nn.LeakyReLU(0.05),
        nn.Conv2d(nf - nd, nf - nd, 3, padding=1), nn.LeakyReLU(0.05),
        nn.Conv2d(nf - nd, nf, 3, padding=1), nn.LeakyReLU(0.05),
    )


class LatticeBlock(nn.Module):
    def __init__(self, nf: int = 64, nd: int = 16):
        super().__init__()
        self.conv_block0 = _butterfly_convs(nf, nd)
        self.fea_ca1 = CC(nf)
        self.x_ca1 = CC(nf)
        self.conv_block1 = _butterfly_convs(nf, nd)
        self.fea_ca2 = CC(nf)
        self.x_ca2 = CC(nf)
        self.compress = nn.Conv2d(2 * nf, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.conv_block0(x)
        p1 = x + self.fea_ca1(f1) * f1
        q1 = f1 + self.x_ca1(x) * x
        f2 = self.conv_block1(p1)
        p3 = f2 + self.fea_ca2(q1) * q1
        q3 = q1 + self.x_ca2(f2) * f2
        return self.compress(torch.cat([p3, q3], 1))


def _tdm(nf: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(nf, nf // 2, 1), nn.ReLU())


class LatticeNet(nn.Module):
    def __init__(self, scale: int = 4, nf: int = 64, nd: int = 16, rgb_range: float = 255.0):
        super().__init__()
        self.scale = scale
        self.sub_mean = _mean_shift(rgb_range, -1.0)
        self.conv1 = nn.Conv2d(3, nf, 3, padding=1)
        self.conv2 = nn.Conv2d(nf, nf, 3, padding=1)
        self.body_unit1 = LatticeBlock(nf, nd)
        self.body_unit2 = LatticeBlock(nf, nd)
        self.body_unit3 = LatticeBlock(nf, nd)
        self.body_unit4 = LatticeBlock(nf, nd)
        self.T_tdm1, self.L_tdm1 = _tdm(nf), _tdm(nf)
        self.T_tdm2, self.L_tdm2 = _tdm(nf), _tdm(nf)
        self.T_tdm3, self.L_tdm3 = _tdm(nf), _tdm(nf)
        self.tail = nn.Sequential(
            nn.Conv2d(nf, nf, 3, padding=1),
            nn.Conv2d(nf, 3 * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )
        self.add_mean = _mean_shift(rgb_range, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(self.sub_mean(x)))
        r1 = self.body_unit1(x)
        r2 = self.body_unit2(r1)
        r3 = self.body_unit3(r2)
        r4 = self.body_unit4(r3)
        t = torch.cat([self.T_tdm1(r4), self.L_tdm1(r3)], 1)
        t = torch.cat([self.T_tdm2(t), self.L_tdm2(r2)], 1)
        t = torch.cat([self.T_tdm3(t), self.L_tdm3(r1)], 1)
        return self.add_mean(self.tail(t + x))


_REPO = "ymff0592/super-resolution"
_COMMIT = "7bb1ce05566bc162b112596be30e381b163541f7"
_SHA = {
    2: "ac9e517e8952a1c96ef83ef7a327233a28f99f95c413f32ab62e3c7e4f59f8c4",
    3: "b1abeb84b02bfb1e186e6b2a1ee58167654285839909912f302b307ae75d1005",
    4: "abee214c6fb7a68cf9e781fe2cc5434cf49f53bba719fe58e6c69f71aa604436",
}


def _wf(scale: int) -> WeightFile:
    path = f"premodel/LatticeNet_x{scale}.pt"
    return WeightFile(
        file=f"LatticeNet_x{scale}.pt",
        sha256=_SHA[scale],
        scales=(scale,),
        url=f"https://raw.githubusercontent.com/{_REPO}/{_COMMIT}/{path}",
        license="none (no LICENSE file in repo)",
        input_range=255.0,
        source=f"{_REPO}@{_COMMIT}:{path}",
        notes="third-party repository, claimed official by others; no statement from the authors",
    )


_OMNI = "Francis0625/Omni-SR result.tex (Omni-SR CVPR2023 lightweight-SR table, LaTeX text)"
_PARAMS = {2: "756K params", 3: "765K params", 4: "777K params"}
# The table's LatticeNet rows are self-ensembled (x8) numbers: a single pass of these files is 0.04-0.17 dB
# lower, the x8 self-ensemble reproduces them (card notes, tests/test_registry_cnn_b.py). So they carry
# tta='x8' and are compared with `srbench run --self-ensemble` rows only.
_ENSEMBLED = ("self-ensembled (x8 geometric): compared with the --self-ensemble rows; a single pass of these "
              "files is 0.04-0.17 dB lower (most on Urban100)")
_ROWS = {
    (2, "Set5"): (38.15, 0.9610), (2, "Set14"): (33.78, 0.9193), (2, "B100"): (32.25, 0.9005),
    (2, "Urban100"): (32.43, 0.9302),
    (3, "Set5"): (34.53, 0.9281), (3, "Set14"): (30.39, 0.8424), (3, "B100"): (29.15, 0.8059),
    (3, "Urban100"): (28.33, 0.8538),
    (4, "Set5"): (32.30, 0.8962), (4, "Set14"): (28.68, 0.7830), (4, "B100"): (27.62, 0.7367),
    (4, "Urban100"): (26.25, 0.7873),
}

register(ModelCard(
    name="LatticeNet",
    family="LatticeNet",
    kind="cnn",
    paper=Paper(
        title="LatticeNet: Towards Lightweight Image Super-resolution with Lattice Block",
        venue="ECCV",
        year=2020,
        url="https://www.ecva.net/papers/eccv_2020/papers_ECCV/papers/123670273.pdf",
    ),
    scales=(2, 3, 4),
    build=lambda scale: LatticeNet(scale=scale),
    weights=tuple(_wf(s) for s in (2, 3, 4)),
    published=tuple(
        Published(dataset=ds, scale=s, psnr=p, ssim=q, source=_OMNI, notes=f"{_PARAMS[s]}; {_ENSEMBLED}", tta="x8")
        for (s, ds), (p, q) in _ROWS.items()
    ),
    colour="rgb",
    input_range=255.0,
    notes=("The checkpoints and code come from ymff0592/super-resolution, a repository that third "
           "parties call the official LatticeNet release; the authors have made no statement about "
           "it and it has no LICENSE file. The net expects RGB in [0, 255] (EDSR/RCAN framework, "
           "rgb_range 255). Its MeanShift convs were trained (their stored weights are not the "
           "identity), so they must come from the checkpoint. Parameter counts (756K/765K/777K, "
           "MeanShift included) match the paper's. Published numbers do NOT reproduce with one "
           "forward pass: srbench (single pass) is 0.07-0.13 dB below the table on Set5/Set14 at "
           "every scale, 0.04-0.05 dB on B100 and 0.11-0.17 dB on Urban100. With the x8 geometric "
           "self-ensemble of the EDSR/RCAN framework these files "
           "come with (--self_ensemble: 4 rotations x 2 flips, outputs averaged before "
           "quantization) they match it: Set5 x2 38.168/0.9612 (published 38.15/0.9610), x3 "
           "34.536/0.9283 (34.53/0.9281), x4 32.305/0.8963 (32.30/0.8962), Set14 x4 28.685/0.7831 "
           "(28.68/0.7830). So the published LatticeNet rows appear to be self-ensembled results "
           "(or these files are not the paper's): the card marks them tta='x8', and srbench compares "
           "them with its self-ensemble track (srbench run --self-ensemble), never with the single "
           "pass that the plain track reports, like every other model's."),
    config={"n_feats": 64, "n_diff": 16, "lattice_blocks": 4, "rgb_range": 255,
            "fusion": "backward (T_tdm/L_tdm)"},
))
