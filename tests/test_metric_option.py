"""``--metric ntire_rgb``: the NTIRE ESR challenges' own PSNR rule as a protocol option in the key."""

from __future__ import annotations

import numpy as np
import torch
from click.testing import CliRunner
from PIL import Image

from benchmark import results, store
from benchmark.cli import main
from protocol.imresize import imresize_uint8


def test_ntire_rgb_rows_live_beside_the_y_rows_and_never_mix(tmp_path):
    d = tmp_path / "data" / "Mine" / "HR"
    d.mkdir(parents=True)
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(img).save(d / "a.png")
    res = tmp_path / "res"
    common = ["run", "--models", "bicubic", "--datasets", "Mine", "--scale", "4", "--data-root", str(d.parent.parent),
              "--results", str(res), "--cache-dir", str(tmp_path / "c"), "--quiet"]
    for metric in ("y", "ntire_rgb"):
        r = CliRunner().invoke(main, [*common, "--metric", metric])
        assert r.exit_code == 0, r.output
    assert "RGB PSNR (dB) / SSIM on uint8 (the NTIRE ESR rule)" in r.output
    s = store.read(res, "summary").set_index("metric")
    assert sorted(s.index) == ["ntire_rgb", "y"]
    # the RGB number, independently: bicubic SR of the protocol's LR, RGB MSE over a 4-px border crop
    lr = imresize_uint8(torch.from_numpy(img).permute(2, 0, 1)[None], scale=1 / 4)
    sr = imresize_uint8(lr, scale=4)[0].permute(1, 2, 0).numpy().astype(np.float64)
    mse = np.mean((sr[4:-4, 4:-4] - img[4:-4, 4:-4].astype(np.float64)) ** 2)
    assert abs(s.loc["ntire_rgb", "psnr"] - 10 * np.log10(255**2 / mse)) < 1e-9
    assert s.loc["ntire_rgb", "psnr"] != s.loc["y", "psnr"]
    # one leaderboard per metric, and the terminal names which
    y = results.leaderboard(res, 4, metric="y")
    rgb = results.leaderboard(res, 4, metric="ntire_rgb")
    assert y["psnr:Mine"].iloc[0] == s.loc["y", "psnr"] and rgb["psnr:Mine"].iloc[0] == s.loc["ntire_rgb", "psnr"]
    assert set(results.tracks(res)["metric"]) == {"y", "ntire_rgb"}
    bad = CliRunner().invoke(main, [*common, "--metric", "rgb"])
    assert bad.exit_code == 2 and "--metric" in bad.output
