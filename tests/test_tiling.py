"""Tiled inference: tiles partition the image, tiled output equals the whole-image output for local
networks (a tiny conv net and real registered CNNs), and an out-of-memory error falls back to tiles."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import registry
from benchmark.infer import MIN_TILE, InferenceError, first_tile, quantize, super_resolve, tile_spans, tiled_forward


class _ConvNet(nn.Module):
    """Three 3x3 convs (receptive-field radius 3 LR px) and a pixel shuffle."""

    def __init__(self, scale=2, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                                  nn.ReLU(), nn.Conv2d(8, 3 * scale * scale, 3, padding=1))
        self.up = nn.PixelShuffle(scale)

    def forward(self, x):
        return torch.sigmoid(self.up(self.body(x)))


class _OOMOver(nn.Module):
    """Wraps a net and raises CUDA's OOM error (it exists in CPU builds too) on inputs over ``limit`` px."""

    def __init__(self, net, limit):
        super().__init__()
        self.net, self.limit, self.sizes = net, limit, []

    def forward(self, x):
        self.sizes.append(tuple(x.shape[-2:]))
        if x.shape[-1] * x.shape[-2] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")
        return self.net(x)


def _lr(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)


@pytest.mark.parametrize("size,tile", [(1, 4), (7, 7), (64, 16), (65, 16), (100, 33), (37, 100)])
def test_tile_spans_partition(size, tile):
    spans = tile_spans(size, tile)
    assert spans[0][0] == 0 and spans[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(0 < b - a <= tile for a, b in spans)
    assert max(b - a for a, b in spans) - min(b - a for a, b in spans) <= 1  # even split


def test_tiny_convnet_tiled_equals_whole_and_needs_the_overlap():
    net = _ConvNet(2).eval()
    x = torch.from_numpy(_lr(45, 58)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        whole = net(x)
        for tile in (8, 31):
            out, ms = tiled_forward(net, x, 2, tile, overlap=3)  # overlap = receptive-field radius
            assert out.shape == whole.shape and ms >= 0
            assert (out - whole).abs().max().item() < 1e-6
        short, _ = tiled_forward(net, x, 2, 16, overlap=1)  # too little context: seams differ
    assert (short - whole).abs().max().item() > 1e-3


def test_requested_tile_is_recorded_and_matches_whole():
    net = _ConvNet(3).eval()
    lr = _lr(40, 52, seed=1)
    whole = super_resolve(net, lr, 3, torch.device("cpu"))
    tiled = super_resolve(net, lr, 3, torch.device("cpu"), tile=16, overlap=8)
    assert whole.tile == 0 and tiled.tile == 16
    assert torch.equal(whole.sr, tiled.sr)
    one = super_resolve(net, lr, 3, torch.device("cpu"), tile=64)  # tile bigger than the image: one pass
    assert one.tile == 0 and torch.equal(one.sr, whole.sr)


def test_oom_falls_back_to_tiles_halving_until_it_fits():
    net = _ConvNet(2).eval()
    lr = _lr(96, 80, seed=2)
    model = _OOMOver(net, limit=40 * 40)
    res = super_resolve(model, lr, 2, torch.device("cpu"), overlap=4)
    # 96x80 OOMs; tile 48 (+overlap 4 per side) still OOMs; tile 24 fits
    assert model.sizes[0] == (96, 80) and res.tile == 24 == first_tile(96, 80) // 2
    with torch.no_grad():
        want = quantize(net(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255))
    assert torch.equal(res.sr, want)
    with pytest.raises(torch.cuda.OutOfMemoryError):  # no fallback asked: the error stands
        super_resolve(_OOMOver(net, 100), lr, 2, torch.device("cpu"), oom_fallback=False)
    with pytest.raises(InferenceError, match=f"even in {MIN_TILE}x{MIN_TILE} tiles"):
        super_resolve(_OOMOver(net, 100), lr, 2, torch.device("cpu"))


def test_other_errors_do_not_trigger_tiling():
    class Boom(nn.Module):
        calls = 0

        def forward(self, x):
            Boom.calls += 1
            raise RuntimeError("shape mismatch in layer 3")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        super_resolve(Boom(), _lr(32, 32), 2, torch.device("cpu"))
    assert Boom.calls == 1


@pytest.fixture(scope="module")
def set5_lr(data_root):
    from benchmark import data
    from benchmark.degrade import bicubic_lr, mod_crop

    ds = data.load("Set5", data_root)
    hr = mod_crop(data.read_hr(next(r for r in ds.images if r.name == "baby")).pixels, 4)[:224, :256]
    return bicubic_lr(hr, 4)  # 56 x 64 LR


def _whole_and_tiled(name, weights_root, lr, tile: int, overlap: int):
    """A registered x4 model's float output on ``lr``, whole and in tiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = registry.get(name).build_model(4, weights_dir=weights_root)
    x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        return model(x), tiled_forward(model, x, 4, tile, overlap=overlap)[0]


# Local networks (convolutions, pixel attention): tiles with 32 px of context reproduce the whole image
# (measured: SPAN-ntire24, PAN, CARN-M, FSRCNN agree to < 2e-6 from 24 px of overlap on).
@pytest.mark.parametrize("name", ["SPAN-ntire24", "FSRCNN"])
def test_registered_local_cnns_tile_exactly(name, weights_root, set5_lr):
    whole, tiled = _whole_and_tiled(name, weights_root, set5_lr, tile=24, overlap=32)
    assert (tiled - whole).abs().max().item() < 1e-4


# RLFN (ESA: strided pooling and an upsampled attention map) and IMDN (CCA: per-channel mean and std
# over the whole map) are not local: tiling moves pixels by up to ~0.02-0.05 (5-13 grey levels), so
# results record the tile size. The numbers stay close: check the size of the effect, both ways.
@pytest.mark.parametrize("name", ["RLFN-ntire", "IMDN"])
def test_registered_global_cnns_tile_approximately(name, weights_root, set5_lr):
    whole, tiled = _whole_and_tiled(name, weights_root, set5_lr, tile=20, overlap=16)
    diff = (tiled - whole).abs()
    assert 1e-4 < diff.max().item() < 0.1  # not tile-exact ...
    assert diff.mean().item() < 5e-3  # ... but on average within about one grey level
