"""Models from outside the repository (issue 15, items 1, 2 and 8): ``--arch/--checkpoint``, plugin files,
``$SRBENCH_PLUGINS``, the plugin API, and every bad input as one line with nothing written.

The user's model lives in a temporary folder, as it would on a user's machine; a nearest-neighbour x4
upsampler given that way must reproduce a Set5 Y-PSNR that this file computes with its own numpy code
(MATLAB bicubic, Y, border crop and PSNR written here from the protocol's text, not srbench's).
"""

from __future__ import annotations

import hashlib
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import registry
from benchmark.cli import main
from registry import plugins
from registry.weights import WeightsError

MYNET = '''
import torch
import torch.nn.functional as F
from torch import nn


class MyNet(nn.Module):
    """Nearest-neighbour upsampling times a learned gain (1.0 in the checkpoint)."""

    def __init__(self, scale=4, gain=1.0):
        super().__init__()
        self.scale = scale
        self.gain = nn.Parameter(torch.tensor([gain]))

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode="nearest") * self.gain


class Shrinks(MyNet):
    def forward(self, x):
        return super().forward(x)[..., :-1, :]


def raises(scale):
    raise ValueError("no such width")


def not_a_module(scale):
    return 42
'''


@pytest.fixture
def user_dir(tmp_path):
    """A user's folder outside the repository: the network file and its checkpoints."""
    d = tmp_path / "x"
    d.mkdir()
    (d / "mynet.py").write_text(MYNET)
    ns: dict = {}
    exec(compile(MYNET, str(d / "mynet.py"), "exec"), ns)
    torch.save(ns["MyNet"]().state_dict(), d / "mynet.pth")
    torch.save({"params_ema": ns["MyNet"]().state_dict()}, d / "wrapped.pth")
    torch.save({"params_ema": ns["MyNet"]().state_dict(), "params": ns["MyNet"]().state_dict()}, d / "both.pth")
    torch.save({"gainz": torch.ones(1), "extra": torch.zeros(2)}, d / "wrongkeys.pth")
    torch.save({"gain": torch.ones(1), "weights": torch.nn.Linear(1, 1)}, d / "pickled.pth")  # a module: pickle
    return d


@pytest.fixture(autouse=True)
def clean_registry():
    """Each test's external models are gone afterwards (the zoo stays)."""
    registry._load_all()
    cards, modules = dict(registry._CARDS), dict(registry._MODULES)
    loaded, files = set(plugins._LOADED), dict(plugins._FILE_MODULES)
    yield
    registry._CARDS.clear(), registry._CARDS.update(cards)
    registry._MODULES.clear(), registry._MODULES.update(modules)
    plugins._LOADED.clear(), plugins._LOADED.update(loaded)
    plugins._FILE_MODULES.clear(), plugins._FILE_MODULES.update(files)


def cli(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ------------------------------------------------------------------ an independent Set5 Y-PSNR (numpy)

def _cubic(x):
    ax = np.abs(x)
    return ((1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
            + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _shrink_axis(a: np.ndarray, axis: int, s: int) -> np.ndarray:
    """MATLAB imresize along one axis by 1/s: antialiased Keys cubic, symmetric edges (PROTOCOL 2)."""
    a = np.moveaxis(a, axis, 0)
    n, scale = a.shape[0], 1.0 / s
    width = 4.0 / scale
    rows = []
    for i in range(1, n // s + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        taps = np.floor(u - width / 2) + np.arange(int(np.ceil(width)) + 2)
        w = scale * _cubic(scale * (u - taps))
        idx = taps.astype(int) - 1  # 0-based; mirror what falls outside, the edge pixel repeated
        idx = np.where(idx < 0, -idx - 1, idx)
        idx = np.where(idx >= n, 2 * n - idx - 1, idx)
        rows.append(np.tensordot(w / w.sum(), a[idx], axes=(0, 0)))
    return np.moveaxis(np.stack(rows), 0, axis)


def _y(rgb: np.ndarray) -> np.ndarray:
    return 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255


def independent_nearest_psnr(hr_dir: Path, s: int = 4) -> float:
    psnrs = []
    for f in sorted(hr_dir.glob("*.png")):
        hr = np.asarray(Image.open(f).convert("RGB")).astype(np.float64)
        hr = hr[: hr.shape[0] // s * s, : hr.shape[1] // s * s]
        lr = _shrink_axis(_shrink_axis(hr, 0, s), 1, s)  # height first, then width
        lr = np.clip(np.round(lr), 0, 255)
        sr = lr.repeat(s, 0).repeat(s, 1)  # nearest neighbour x s: each LR pixel an s x s block
        a, b = _y(hr)[s:-s, s:-s], _y(sr)[s:-s, s:-s]
        psnrs.append(10 * math.log10(255**2 / np.mean((a - b) ** 2)))
    return float(np.mean(psnrs))


# ------------------------------------------------------------------------------------------- ad hoc

def test_adhoc_nearest_reproduces_an_independent_set5_psnr(user_dir, data_root, tmp_path):
    res = tmp_path / "res"
    r = cli("run", "--arch", f"{user_dir}/mynet.py:MyNet", "--checkpoint", user_dir / "mynet.pth",
            "--datasets", "Set5", "--scale", "4", "--results", res, "--quiet", "--data-root", data_root)
    assert r.exit_code == 0, r.output
    s = pd.read_parquet(res / "summary.parquet")
    row = s.iloc[0]
    assert (row["model"], row["origin"], row["status"]) == ("mynet", "cli", "ok")
    assert row["weights_sha256"] == _sha(user_dir / "mynet.pth")  # the file measured, with every row
    images = pd.read_parquet(res / "images.parquet")
    assert set(images["weights_sha256"]) == {_sha(user_dir / "mynet.pth")}
    assert abs(row["psnr"] - independent_nearest_psnr(data_root / "Set5" / "HR")) < 1e-6
    assert "mynet [ext]" in r.output and "state dict is mynet.pth itself" in r.output
    cards = pd.read_parquet(res / "cards.parquet").set_index("model")
    assert cards.loc["mynet", "origin"] == "cli"
    board = cli("results", "--results", res, "--scale", "4")
    assert "mynet [ext]" in board.output and _sha(user_dir / "mynet.pth")[:16] in board.output
    again = cli("check", "--reference", res, "--arch", f"{user_dir}/mynet.py:MyNet", "--checkpoint",
                user_dir / "mynet.pth", "--data-root", data_root)
    assert again.exit_code == 0 and "OK: 1 reference row(s) reproduced" in again.output, again.output


def test_adhoc_in_a_child_process_with_name_kwargs_and_a_wrapped_checkpoint(user_dir, data_root, tmp_path):
    """--timeout runs the work in a supervised child, which recreates the model from its spec; two
    pairs at once, mixed with a zoo model, each named."""
    res = tmp_path / "res"
    r = cli("run", "--arch", f"{user_dir}/mynet.py:MyNet", "--checkpoint", user_dir / "mynet.pth",
            "--arch", f"{user_dir}/mynet.py:MyNet", "--checkpoint", user_dir / "wrapped.pth",
            "--name", "NetA", "--name", "NetB", "--arch-kwargs", '{"gain": 0.5}',
            "--models", "bicubic", "--datasets", "Set5", "--scale", "4", "--results", res, "--quiet",
            "--timeout", "600", "--data-root", data_root)
    assert r.exit_code == 0, r.output
    s = pd.read_parquet(res / "summary.parquet").set_index("model")
    assert set(s.index) == {"NetA", "NetB", "Bicubic"}
    assert s.loc["NetA", "psnr"] == pytest.approx(s.loc["NetB", "psnr"], abs=1e-9)  # same weights, same net
    assert s.loc["Bicubic", "origin"] == "zoo" and s.loc["NetB", "origin"] == "cli"
    assert "NetB: the state dict is wrapped.pth['params_ema']" in r.output
    assert s.loc["NetB", "weights_sha256"] == _sha(user_dir / "wrapped.pth")


def test_adhoc_profile(user_dir, tmp_path):
    res = tmp_path / "res"
    r = cli("profile", "--arch", f"{user_dir}/mynet.py:MyNet", "--checkpoint", user_dir / "mynet.pth",
            "--no-timing", "--size", "32x32", "--results", res)
    assert r.exit_code == 0, r.output
    p = pd.read_parquet(res / "profile.parquet").iloc[0]
    assert (p["model"], p["origin"], int(p["params"]), bool(p["pretrained"])) == ("mynet", "cli", 1, True)
    assert p["weights_sha256"] == _sha(user_dir / "mynet.pth")


# ------------------------------------------------------------------------------------------ plugins

def _plugin(user_dir: Path, name: str = "MyNet", extra: str = "") -> Path:
    p = user_dir / "plugin.py"
    p.write_text(textwrap.dedent(f'''
        import sys
        from pathlib import Path
        sys.path.insert(0, str(Path(__file__).parent))  # its own folder, for mynet.py
        import registry
        from mynet import MyNet
        registry.register_model({name!r}, lambda scale: MyNet(scale), scales=(4,),
                                checkpoints={{4: str(Path(__file__).parent / "mynet.pth")}}, license="MIT",
                                kind="cnn", notes="a test plugin")
        {extra}
    '''))
    return p


def test_plugin_file_is_listed_and_evaluated_in_a_child(user_dir, data_root, tmp_path):
    plugin = _plugin(user_dir)
    listing = cli("--plugin", plugin, "list")
    assert listing.exit_code == 0 and "MyNet [ext]" in listing.output and str(plugin) in listing.output
    res = tmp_path / "res"
    r = cli("--plugin", plugin, "run", "--models", "MyNet", "--datasets", "Set5", "--results", res, "--quiet",
            "--timeout", "600", "--data-root", data_root)
    assert r.exit_code == 0, r.output
    row = pd.read_parquet(res / "summary.parquet").iloc[0]
    assert (row["model"], row["origin"]) == ("MyNet", "plugin")
    assert row["weights_sha256"] == _sha(user_dir / "mynet.pth")  # computed at registration, recorded
    assert abs(row["psnr"] - independent_nearest_psnr(data_root / "Set5" / "HR")) < 1e-6


def test_plugins_from_the_environment(user_dir, tmp_path):
    r = cli("list", env={"SRBENCH_PLUGINS": f"{_plugin(user_dir)}"})
    assert r.exit_code == 0 and "MyNet [ext]" in r.output


def test_register_model_verifies_a_given_sha256_and_resolves_relative_paths(user_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SRBENCH_WEIGHTS", str(user_dir))
    ns: dict = {}
    exec(compile(MYNET, "mynet", "exec"), ns)
    good = plugins.register_model("RelNet", lambda s: ns["MyNet"](s), scales=(4,),
                                  checkpoints={4: ("mynet.pth", _sha(user_dir / "mynet.pth"))})
    assert good.external and good.origin == "plugin"
    assert good.build_model(4).weights_sha256 == _sha(user_dir / "mynet.pth")  # found in the weights dir
    bad = plugins.register_model("BadSha", lambda s: ns["MyNet"](s), scales=(4,),
                                 checkpoints={4: ("mynet.pth", "0" * 64)})
    with pytest.raises(WeightsError, match="differs from the card's"):
        bad.build_model(4)
    with pytest.raises(plugins.PluginError, match="64 hex digits"):
        plugins.register_model("BadHex", lambda s: ns["MyNet"](s), scales=(4,), checkpoints={4: ("mynet.pth", "xyz")})


# ----------------------------------------------------------------------------------------- bad input

def _one_line_error(r, *needles):
    assert r.exit_code in (1, 2), r.output  # 2: click's usage errors (a bad option), with its usage hint
    lines = [ln for ln in r.output.strip().splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    for n in needles:
        assert n in lines[0], lines[0]


BAD_ADHOC = [
    ("missing file", ["--arch", "{d}/nope.py:MyNet", "--checkpoint", "{d}/mynet.pth"], ["nope.py", "not found"]),
    ("missing callable", ["--arch", "{d}/mynet.py:Nope", "--checkpoint", "{d}/mynet.pth"], ["no callable 'Nope'"]),
    ("callable raises", ["--arch", "{d}/mynet.py:raises", "--checkpoint", "{d}/mynet.pth"],
     ["mynet.py:raises", "ValueError: no such width"]),
    ("not a module", ["--arch", "{d}/mynet.py:not_a_module", "--checkpoint", "{d}/mynet.pth"],
     ["returned int, not a torch.nn.Module"]),
    ("state dict mismatch", ["--arch", "{d}/mynet.py:MyNet", "--checkpoint", "{d}/wrongkeys.pth"],
     ["wrongkeys.pth", "1 missing (first 'gain')", "2 unexpected (first 'gainz')"]),
    ("needs pickle", ["--arch", "{d}/mynet.py:MyNet", "--checkpoint", "{d}/pickled.pth"],
     ["pickled.pth", "needs pickle"]),
    ("ambiguous state key", ["--arch", "{d}/mynet.py:MyNet", "--checkpoint", "{d}/both.pth"],
     ["both.pth", "'params_ema' and 'params'", "--state-key"]),
    ("wrong output size", ["--arch", "{d}/mynet.py:Shrinks", "--checkpoint", "{d}/mynet.pth"],
     ["model mynet x4", "output (1, 3, 47, 48)", "expected (1, 3, 48, 48)"]),
    ("unpaired", ["--arch", "{d}/mynet.py:MyNet"], ["1 --arch but 0 --checkpoint"]),
    ("zoo name", ["--arch", "{d}/mynet.py:MyNet", "--checkpoint", "{d}/mynet.pth", "--name", "IMDN"],
     ["--name IMDN", "the zoo"]),
    ("bad kwargs", ["--arch", "{d}/mynet.py:MyNet", "--checkpoint", "{d}/mynet.pth", "--arch-kwargs", "gain=0.5"],
     ["--arch-kwargs", "not JSON"]),
]


@pytest.mark.parametrize("what,args,needles", BAD_ADHOC, ids=[b[0] for b in BAD_ADHOC])
def test_bad_adhoc_input_is_one_line_and_writes_nothing(user_dir, tmp_path, what, args, needles):
    res = tmp_path / "res"
    r = cli("run", *[a.format(d=user_dir) for a in args], "--datasets", "Demo", "--results", res, "--quiet")
    _one_line_error(r, *needles)
    assert not res.exists() or not any(res.iterdir())


BAD_PLUGINS = [
    ("fails to import", "raise ImportError('no module named torchvision_extras')",
     ["plugin.py failed to import", "ImportError: no module named torchvision_extras"]),
    ("zoo name", "", ["'RLFN-ntire' is already registered by the zoo"]),
]


@pytest.mark.parametrize("what,extra,needles", BAD_PLUGINS, ids=[b[0] for b in BAD_PLUGINS])
def test_bad_plugin_is_one_line(user_dir, tmp_path, what, extra, needles):
    plugin = _plugin(user_dir, name="RLFN-ntire" if what == "zoo name" else "MyNet", extra=extra)
    for r in (cli("--plugin", plugin, "list"), cli("list", env={"SRBENCH_PLUGINS": str(plugin)})):
        _one_line_error(r, str(plugin), *needles)
    res = tmp_path / "res"
    r = cli("--plugin", plugin, "run", "--models", "bicubic", "--datasets", "Demo", "--results", res)
    _one_line_error(r, *needles)
    assert not res.exists()


def test_a_plugin_whose_output_has_the_wrong_size_is_refused_before_anything_is_written(user_dir, tmp_path):
    plugin = _plugin(user_dir, extra="")
    plugin.write_text(plugin.read_text().replace("from mynet import MyNet", "from mynet import Shrinks as MyNet"))
    res = tmp_path / "res"
    r = cli("--plugin", plugin, "run", "--models", "MyNet", "--datasets", "Demo", "--results", res)
    _one_line_error(r, "model MyNet x4", "expected (1, 3, 48, 48)")
    assert not res.exists()


def test_validate_takes_an_adhoc_model(user_dir):
    good = cli("validate", "--arch", f"{user_dir}/mynet.py:MyNet", "--checkpoint", user_dir / "mynet.pth")
    assert good.exit_code == 0 and "all 7 checks passed" in good.output, good.output
    bad = cli("validate", "--arch", f"{user_dir}/mynet.py:Shrinks", "--checkpoint", user_dir / "mynet.pth",
              "--name", "shrinks")
    assert bad.exit_code == 1 and "shrinks" in bad.output and "FAIL" in bad.output, bad.output
