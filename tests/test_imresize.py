"""imresize_matlab against hand-derived values and a test-local, loop-based reference."""

import math

import numpy as np
import pytest
import torch

from protocol.imresize import imresize_matlab, imresize_uint8


def _keys_cubic(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


def _reference_1d(v: list[float], scale: float) -> list[float]:
    """MATLAB imresize along one axis, written directly from its documented algorithm, pixel by pixel."""
    n = len(v)
    out_len = math.ceil(n * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    out = []
    for i in range(1, out_len + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        acc, wsum = 0.0, 0.0
        for j in range(left, left + math.ceil(width) + 2):
            d = u - j
            w = scale * _keys_cubic(scale * d) if scale < 1 else _keys_cubic(d)
            # symmetric padding: ... 2 1 | 1 2 ... n | n n-1 ...
            k = j
            while k < 1 or k > n:
                k = 1 - k if k < 1 else 2 * n + 1 - k
            acc += w * v[k - 1]
            wsum += w
        out.append(acc / wsum)
    return out


def _reference_2d(img: np.ndarray, scale: float) -> np.ndarray:
    cols = np.stack([_reference_1d(list(img[:, c]), scale) for c in range(img.shape[1])], axis=1)
    return np.stack([_reference_1d(list(cols[r, :]), scale) for r in range(cols.shape[0])], axis=0)


def test_hand_derived_upscale_edge_value():
    # x2, first output: u = 0.75, taps at 1-based -1..2 with Keys weights
    # k(1.75) = -0.0234375, k(0.75) = 0.2265625, k(0.25) = 0.8671875, k(1.25) = -0.0703125;
    # mirrored positions -1 -> 2 and 0 -> 1: 1.09375 * x1 - 0.09375 * x2.
    row = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    out = imresize_matlab(row, 2.0)
    assert out.shape == (2, 8)  # both axes are resized; a single row stays constant along H
    assert out[0, 0].item() == pytest.approx(1.09375 * 10 - 0.09375 * 20, abs=1e-12)


def test_constant_image_is_unchanged():
    img = torch.full((3, 17, 23), 77.0)
    for s in (0.25, 1 / 3, 0.5, 2.0, 3.0):
        out = imresize_matlab(img, s)
        assert torch.allclose(out, torch.full_like(out, 77.0), atol=1e-9)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2.0, 3.0, 4.0])
def test_matches_loop_reference(scale):
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, size=(12, 13)).astype(np.float64)
    ours = imresize_matlab(torch.from_numpy(img), scale).numpy()
    ref = _reference_2d(img, scale)
    assert ours.shape == ref.shape == (math.ceil(12 * scale), math.ceil(13 * scale))
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_output_size_and_uint8_rounding():
    img = torch.randint(0, 256, (3, 24, 36), dtype=torch.uint8)
    lr = imresize_uint8(img, 1 / 4)
    assert lr.dtype == torch.uint8 and lr.shape == (3, 6, 9)
    ref = imresize_matlab(img, 1 / 4).round().clamp(0, 255)
    assert torch.equal(lr.double(), ref)
