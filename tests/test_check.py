"""The regression gate, end to end on a tiny registered model and a tiny custom test set.

A deterministic conv net is registered (its checkpoint saved in tmp_path with its sha256), evaluated
into a reference folder by ``srbench run``; ``srbench check`` must pass, fail with a table naming the
model, the set and the delta once the net's arithmetic changes by 0.1 %, and pass again when restored.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image
from torch import nn

import registry
from benchmark import store
from benchmark.check import PSNR_TOL, format_report, run_check
from benchmark.cli import main
from registry.base import ModelCard, Published, WeightFile

NAME = "TinyCheckNet"


class TinyNet(nn.Module):
    """Nearest upsampling plus a small learned residual: deterministic, fast, a real checkpoint."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return up + 0.1 * F.pixel_shuffle(torch.tanh(self.conv(x)), self.scale)


def save_tiny_weights(folder, scale: int = 2) -> tuple[str, str]:
    net = TinyNet(scale)
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    folder.mkdir(parents=True, exist_ok=True)
    fname = f"tiny_x{scale}.pth"
    torch.save(net.state_dict(), folder / fname)
    return fname, hashlib.sha256((folder / fname).read_bytes()).hexdigest()


def tiny_card(fname: str, sha: str, published=(), name: str = NAME, scale: int = 2) -> ModelCard:
    return ModelCard(name=name, family="tinytest", kind="cnn", paper=None, scales=(scale,), build=TinyNet,
                     weights=(WeightFile(fname, sha, (scale,), url="", license="MIT"),), published=tuple(published),
                     notes="a test model")


def make_tiny_set(root, name: str = "Tiny", n: int = 2):
    d = root / name / "HR"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:36, 0:48]
    for k in range(n):
        base = 128 + 60 * np.sin(xx / (3.0 + k)) * np.cos(yy / 4.0)
        img = np.stack([base, base * 0.8 + 20, 255 - base], axis=2) + rng.normal(0, 8, (36, 48, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"img{k}.png")
    return root


@pytest.fixture
def tiny(tmp_path):
    """(data_root, weights_dir, cache_dir) with the tiny model registered; unregistered afterwards."""
    wdir = tmp_path / "weights"
    fname, sha = save_tiny_weights(wdir)
    card = tiny_card(fname, sha)
    registry.cards()  # load the real families first
    registry.register(card)
    try:
        yield make_tiny_set(tmp_path / "data"), wdir, tmp_path / "cache", card
    finally:
        registry._CARDS.pop(NAME.lower(), None)


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _run_reference(data, wdir, cache, ref):
    res = _invoke("run", "--models", NAME, "--datasets", "Tiny", "--scale", "2", "--data-root", data,
                  "--weights-dir", wdir, "--cache-dir", cache, "--results", ref, "--device", "cpu", "--quiet")
    assert res.exit_code == 0, res.output
    return store.read(ref, "summary")


def _check(ref, data, wdir, cache, *extra):
    return _invoke("check", "--reference", ref, "--data-root", data, "--weights-dir", wdir, "--cache-dir", cache,
                   "--device", "cpu", *extra)


def test_gate_passes_fails_and_passes_again(tiny, tmp_path, monkeypatch):
    data, wdir, cache, _ = tiny
    ref = tmp_path / "ref"
    summary = _run_reference(data, wdir, cache, ref)
    assert list(summary["variant"]) == [NAME] and np.isfinite(summary["psnr"]).all()
    ok = _check(ref, data, wdir, cache)
    assert ok.exit_code == 0, ok.output
    assert "OK: 1 reference row(s) reproduced" in ok.output

    orig = TinyNet.forward
    monkeypatch.setattr(TinyNet, "forward", lambda self, x: orig(self, x) * 1.001)
    bad = _check(ref, data, wdir, cache)
    assert bad.exit_code == 1, bad.output
    line = next(ln for ln in bad.output.splitlines() if ln.startswith("FAIL"))
    assert NAME in line and " Tiny " in line and " 2 " in line
    # the table's reference/now/delta are the stored PSNR, a new one, and their difference
    ref_psnr = float(summary["psnr"].iloc[0])
    nums = [float(x) for x in re.findall(r"[-+]?\d+\.\d+", line)]
    assert nums[0] == pytest.approx(ref_psnr, abs=5e-4)
    assert abs(nums[2]) > PSNR_TOL and nums[2] == pytest.approx(nums[1] - nums[0], abs=2e-3)
    assert "FAILED: 1 of 1 comparison(s)" in bad.output
    # nothing was written into the reference
    assert store.read(ref, "summary")["psnr"].iloc[0] == ref_psnr

    monkeypatch.setattr(TinyNet, "forward", orig)
    again = _check(ref, data, wdir, cache)
    assert again.exit_code == 0, again.output


def test_published_gate_and_known_issue(tiny, tmp_path):
    data, wdir, cache, card = tiny
    ref = tmp_path / "ref"
    summary = _run_reference(data, wdir, cache, ref)
    measured = float(summary["psnr"].iloc[0])
    src = "a test table"

    def with_published(psnr, known=""):
        p = Published(dataset="Tiny", scale=2, psnr=psnr, ssim=None, source=src)
        if known:
            object.__setattr__(p, "known_issue", known)  # the card field the gate reads
        registry._CARDS[NAME.lower()] = tiny_card(card.weights[0].file, card.weights[0].sha256, [p])

    with_published(round(measured, 2))
    res = _check(ref, data, wdir, cache, "--published")
    assert res.exit_code == 0, res.output
    assert "1 published number(s) checked" in res.output

    with_published(round(measured + 0.10, 2))
    res = _check(ref, data, wdir, cache, "--published")
    assert res.exit_code == 1, res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("FAIL"))
    assert "published" in line and NAME in line and "Tiny" in line
    # without --published the paper is not consulted
    assert _check(ref, data, wdir, cache).exit_code == 0

    with_published(round(measured + 0.10, 2), known="the paper used another test split")
    res = _check(ref, data, wdir, cache, "--published")
    assert res.exit_code == 0, res.output
    known = next(ln for ln in res.output.splitlines() if ln.startswith("known"))
    assert "another test split" in known and "(1 known not to reproduce)" in res.output


def test_selection_and_skips(tiny, tmp_path):
    data, wdir, cache, _ = tiny
    ref = tmp_path / "ref"
    _run_reference(data, wdir, cache, ref)
    # a reference row for a set this machine lacks, and one under an older protocol
    s = store.read(ref, "summary")
    extra = pd.concat([s.assign(dataset="Elsewhere"), s.assign(protocol="srbench-0")], ignore_index=True)
    store.upsert(ref, "summary", extra)
    res = _check(ref, data, wdir, cache)
    assert res.exit_code == 0, res.output
    assert "skipped: dataset Elsewhere" in res.output and "protocol srbench-0" in res.output
    assert _check(ref, data, wdir, cache, "--strict").exit_code == 1
    # explicit selections that cannot be honoured are one-line errors
    for args, needle in ((["--models", "NoSuchModel"], "unknown model"),
                         (["--datasets", "Set5"], "not in the reference"),
                         (["--datasets", "Elsewhere"], "Elsewhere")):
        r = CliRunner().invoke(main, ["check", "--reference", str(ref), "--data-root", str(data), "--weights-dir",
                                      str(wdir), "--cache-dir", str(cache), *args])
        assert r.exit_code == 1 and needle in r.output and r.output.startswith("Error:"), r.output
    # the API gives the same verdict
    rep = run_check(ref, datasets=["Tiny"], data_root=data, weights_dir=wdir, cache_dir=cache, device="cpu")
    assert rep.ok and len(rep.rows) == 1 and "OK" in format_report(rep)


def test_missing_checkpoint_is_skipped_not_passed(tiny, tmp_path):
    data, wdir, cache, card = tiny
    ref = tmp_path / "ref"
    _run_reference(data, wdir, cache, ref)
    (wdir / card.weights[0].file).unlink()
    res = _check(ref, data, wdir, cache)
    assert res.exit_code == 0 and "is missing; not checked" in res.output and "nothing was checked" in res.output
    r = CliRunner().invoke(main, ["check", "--reference", str(ref), "--data-root", str(data), "--weights-dir",
                                  str(wdir), "--models", NAME])
    assert r.exit_code == 1 and "missing" in r.output
