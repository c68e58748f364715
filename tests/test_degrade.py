"""Degradations and the LR cache."""

import numpy as np
import pytest
import torch

from benchmark import degrade
from benchmark.degrade import LRCache, jpeg_roundtrip, make_lr, mod_crop, parse_degradation
from protocol.imresize import imresize_matlab


def _img(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(h // 8, w // 8, 3)).astype(np.float64)
    # a smooth image (upsampled noise), so JPEG quality matters in a predictable way
    up = imresize_matlab(torch.from_numpy(base.transpose(2, 0, 1)), 8.0).numpy().transpose(1, 2, 0)
    return np.clip(np.round(up), 0, 255).astype(np.uint8)


def test_parse_degradation():
    assert parse_degradation("bicubic") == ("bicubic", None)
    assert parse_degradation("JPEG30") == ("jpeg", 30)
    for bad in ("jpeg0", "jpeg101", "blur", "jpeg"):
        with pytest.raises(ValueError, match="unknown degradation"):
            parse_degradation(bad)


def test_mod_crop_keeps_top_left():
    img = np.arange(7 * 10 * 3, dtype=np.uint8).reshape(7, 10, 3)
    out = mod_crop(img, 3)
    assert out.shape == (6, 9, 3)
    assert np.array_equal(out, img[:6, :9])


def test_bicubic_lr_is_matlab_imresize_rounded():
    hr = _img()
    lr = make_lr(hr, "bicubic", 4)
    ref = imresize_matlab(torch.from_numpy(hr.transpose(2, 0, 1)), 0.25).round().clamp(0, 255)
    assert lr.shape == (12, 16, 3)
    assert np.array_equal(lr.transpose(2, 0, 1), ref.numpy().astype(np.uint8))


def test_jpeg_quality_orders_error():
    hr = _img(96, 128, seed=1)
    lr = make_lr(hr, "bicubic", 2)
    errs = [np.abs(make_lr(hr, f"jpeg{q}", 2).astype(int) - lr).mean() for q in (10, 20, 30, 40)]
    assert errs[0] > errs[1] > errs[2] > errs[3] > 0


def test_gray_jpeg_stays_gray():
    gray = np.repeat(_img()[:, :, :1], 3, axis=2)
    out = jpeg_roundtrip(gray, 20, gray=True)
    assert (out[:, :, 0] == out[:, :, 1]).all() and (out[:, :, 1] == out[:, :, 2]).all()


def test_cache_hit_miss_and_damage(tmp_path):
    cache = LRCache(tmp_path)
    hr = _img()
    a = cache.lr_for(hr, "abc", "jpeg20", 4)
    b = cache.lr_for(hr, "abc", "jpeg20", 4)
    assert np.array_equal(a, b) and (cache.hits, cache.misses) == (1, 1)
    png = next(tmp_path.rglob("*.png"))
    data = bytearray(png.read_bytes())
    data[len(data) // 2] ^= 0xFF  # damage the entry
    png.write_bytes(bytes(data))
    assert cache.get("abc", "jpeg20", 4) is None
    c = cache.lr_for(hr, "abc", "jpeg20", 4)
    assert np.array_equal(a, c) and cache.misses == 2
    assert cache.get("abc", "jpeg20", 4) is not None  # rebuilt


def test_cache_key_includes_protocol_version(monkeypatch):
    k1 = LRCache.key("abc", "bicubic", 4)
    assert k1 != LRCache.key("abc", "bicubic", 3) != LRCache.key("abd", "bicubic", 4)
    assert k1 != LRCache.key("abc", "jpeg10", 4)
    monkeypatch.setattr(degrade, "PROTOCOL_VERSION", "srbench-test")
    assert LRCache.key("abc", "bicubic", 4) != k1
