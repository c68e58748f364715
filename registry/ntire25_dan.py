"""DAN, NTIRE 2025 ESR team 20: 6 spatial/channel attention blocks (SCAB) of 16 channels.

The network of ``models/team20_DAN.py:DAN`` in Amazingren/NTIRE2025_ESR@b69fb668 (checkpoint
``model_zoo/team20_DAN.pth``, a BasicSR dict whose ``params_ema`` ``test_demo.py`` loads strictly,
data_range 1.0):

    x  <- x - mean_DIV2K                               (RGB in [0, 1]; mean added back at the end)
    x0 = to_feat(x)                                    (3x3, no bias)
    SCAB (x6): local-handle block -> spatial attention (+ skip) -> channel attention block, + input
    out = to_img(fuse(cat[x1..x6]) + x0)               (fuse: 1x1, GELU, local-handle block;
                                                        to_img: 1x1 to 48 + PixelShuffle(4))
    SR = refine(out) + mean                            (refine: 4 x (GELU, depth-wise 3x3 on RGB))

Facts of the organizers' code a re-implementation must keep:

* Local-handle block: a cascade x_k = GELU(dwconv_k(x_{k-1}) + x_{k-1}) (dwconv_k = 1x1 then depth-wise
  3x3), four GELU'd squeezes (three 1x1 of x, x1, x2 and a grouped 3x3 of x3) concatenated, 1x1.
* Spatial attention: x1 = conv1(F.normalize(x)) (L2 over channels); the gate is nearest-upsampled
  GELU(conv2(dwconv(adaptive max-pool of x1 to H/8 x W/8) + unbiased spatial variance of x1));
  conv3(x1 * gate) + x. Inputs must be at least 8 px on a side.
* Channel attention: project_in to 4C, qv = dwconv(first half) * second half; q, v are the halves of qv;
  the keys are L2-normalised v (over pixels), the values raw v; softmax(q k^T * temperature); a single
  head; then Restormer's GDFN. In eval mode the attention runs through TLC windows of at most 72 x 72
  (LR) pixels, averaged on the overlaps.
* ``refine`` starts with a GELU on the pixel-shuffled output (before any conv) and the convs have no
  bias; the DIV2K mean is a plain tensor attribute (not in the checkpoint): a non-persistent buffer here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_cnn_imdn import GDFN, LayerNorm2d, tlc_merge, tlc_windows
from registry.span import DIV2K_MEAN


class LocalHandleBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        self.conv1 = nn.Conv2d(dim, half, 1)
        self.conv2 = nn.Conv2d(dim, half, 1)
        self.conv3 = nn.Conv2d(dim, half, 1)
        self.conv4 = nn.Conv2d(dim, half, 3, 1, 1, groups=half)
        for k in (1, 2, 3):
            setattr(self, f"dwconv{k}", nn.Sequential(nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)))
        self.conv5 = nn.Conv2d(dim * 2, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.gelu(self.dwconv1(x) + x)
        x2 = F.gelu(self.dwconv2(x1) + x1)
        x3 = F.gelu(self.dwconv3(x2) + x2)
        outs = [F.gelu(self.conv1(x)), F.gelu(self.conv2(x1)), F.gelu(self.conv3(x2)), F.gelu(self.conv4(x3))]
        return self.conv5(torch.cat(outs, dim=1))


class SpatialAttnBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        self.conv1 = nn.Conv2d(dim, half, 1, bias=False)
        self.dwconv = nn.Conv2d(half, half, 3, 1, 1, groups=half, bias=False)
        self.conv2 = nn.Conv2d(half, half, 1, bias=False)
        self.conv3 = nn.Conv2d(half, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        x1 = self.conv1(F.normalize(x))
        pooled = self.dwconv(F.adaptive_max_pool2d(x1, (h // 8, w // 8)))
        var = torch.var(x1, dim=(-2, -1), keepdim=True)
        gate = F.interpolate(F.gelu(self.conv2(pooled + var)), size=(h, w), mode="nearest")
        return self.conv3(x1 * gate) + x


class ChannelAttention(nn.Module):
    """Single-head channel attention with normalised-v keys, TLC windows of ``tlc_kernel`` in eval mode."""

    def __init__(self, dim: int, tlc_kernel: int = 72):
        super().__init__()
        self.tlc_kernel = tlc_kernel
        self.temperature = nn.Parameter(torch.ones(1, 1))
        self.project_in = nn.Conv2d(dim, dim * 4, 1, bias=False)
        self.dwconv = nn.Conv2d(dim * 2, dim * 2, 3, 1, 1, groups=dim * 2, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def _attend(self, qv: torch.Tensor) -> torch.Tensor:
        n, c2, h, w = qv.shape
        q, v = (t.reshape(n, c2 // 2, h * w) for t in qv.chunk(2, dim=1))
        k = F.normalize(v, dim=-1)
        attn = torch.softmax((F.normalize(q, dim=-1) @ k.transpose(-2, -1)) * self.temperature, dim=-1)
        return (attn @ v).reshape(n, c2 // 2, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.project_in(x).chunk(2, dim=1)
        qv = self.dwconv(x1) * x2
        if self.training:
            return self.project_out(self._attend(qv))
        parts, plan = tlc_windows(qv, self.tlc_kernel)
        return self.project_out(tlc_merge(self._attend(parts), plan))


class ChannelAttnBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm1 = LayerNorm2d(dim)
        self.norm2 = LayerNorm2d(dim)
        self.global_channel = ChannelAttention(dim)
        self.ffn = GDFN(dim, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_channel(self.norm1(x)) + x
        return self.ffn(self.norm2(x)) + x


class SCAB(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.local_handle = LocalHandleBlock(dim)
        self.spatial_attn = SpatialAttnBlock(dim)
        self.channel_attn = ChannelAttnBlock(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel_attn(self.spatial_attn(self.local_handle(x))) + x


class DAN(nn.Module):
    def __init__(self, dim: int = 16, blocks: int = 6, scale: int = 4):
        super().__init__()
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1), persistent=False)
        self.blocks = blocks
        self.to_feat = nn.Conv2d(3, dim, 3, 1, 1, bias=False)
        for i in range(1, blocks + 1):
            setattr(self, f"B{i}", SCAB(dim))
        self.fuse = nn.Sequential(nn.Conv2d(dim * blocks, dim, 1, bias=False), nn.GELU(), LocalHandleBlock(dim))
        self.to_img = nn.Sequential(nn.Conv2d(dim, 3 * scale ** 2, 1, bias=False), nn.PixelShuffle(scale))
        layers: list[nn.Module] = []
        for _ in range(4):
            layers += [nn.GELU(), nn.Conv2d(3, 3, 3, 1, 1, groups=3, bias=False)]
        self.refine = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.dtype)
        x0 = self.to_feat(x - mean)
        outs, h = [], x0
        for i in range(1, self.blocks + 1):
            h = getattr(self, f"B{i}")(h)
            outs.append(h)
        out = self.to_img(self.fuse(torch.cat(outs, dim=1)) + x0)
        return self.refine(out) + mean


def build(scale: int) -> DAN:
    return DAN(scale=scale)


DAN_NTIRE25 = register(ModelCard(
    name="DAN-ntire25",
    family="DAN",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(weight_file(
        "team20_DAN.pth", "04db32e38cb45e7d69dbedb68cb6c83969fa59a761d7e9c61441c429d385e541", state_key="params_ema",
        notes="team 20; BasicSR dict {params, params_ema}; params_ema (251 tensors, 44,354 parameters) is what "
              "test_demo.py loads"),),
    challenge=entry(20, "DAN"),
    notes=(
        "NTIRE 2025 ESR checkpoint of team 20 (solution DAN), as the organizers run it: DAN() with its "
        "defaults (16 channels, 6 SCAB blocks), params_ema loaded with strict=True, RGB in [0, 1] "
        "(data_range 1.0). A plain network (no re-parameterisation); the DIV2K mean is subtracted inside and "
        "added back after the refine convs. Its channel attention runs through TLC windows of 72 x 72 LR "
        "pixels in eval mode (the authors' test behaviour, kept), and its spatial attention's adaptive max-pool "
        "to H/8 x W/8 needs inputs of at least 8 px on a side. No per-team PSNR in the organizers' repository "
        "(log and results.txt hold only the EFDN baseline), so no published row."
    ),
    config={"channels": 16, "blocks": 6, "activation": "GELU",
            "attention": "single-head channel attention (softmax), TLC 72", "ffn": "GDFN x2",
            "upsampler": "conv1x1 + PixelShuffle(4) + 4 x (GELU, dw3x3)", "rgb_mean": DIV2K_MEAN, "params": 44354},
))
