"""Checkpoint handling: sha256 before unpickling, weights_only loading, downloads via loopback."""

import functools
import hashlib
import http.server
import pickle
import threading
from collections import OrderedDict

import pytest
import torch
from torch import nn

import registry
from registry.base import ModelCard, WeightFile
from registry.weights import WeightsError, fetch, load_state_dict, verify, weights_dir


class _Tiny(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.up = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.up(self.conv(x))


def _save(path, obj):
    torch.save(obj, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _card(wf):
    return ModelCard(name="Tiny", family="Tiny", kind="cnn", paper=None, scales=(2,), build=_Tiny,
                     weights=(wf,))


def test_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SRBENCH_WEIGHTS", str(tmp_path / "env"))
    assert weights_dir(tmp_path / "opt") == tmp_path / "opt"
    assert weights_dir() == tmp_path / "env"
    monkeypatch.delenv("SRBENCH_WEIGHTS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights_dir() == tmp_path / "xdg" / "srbench" / "weights"


def test_load_unwraps_and_strips_prefix(tmp_path):
    net = _Tiny(2)
    state = OrderedDict((f"module.{k}", v) for k, v in net.state_dict().items())
    sha = _save(tmp_path / "t.pth", {"params_ema": state, "params": {}})
    wf = WeightFile("t.pth", sha, (2,), "", "MIT", state_key="params_ema", strip_prefix="module.")
    loaded, digest = load_state_dict(wf, tmp_path)
    assert digest == sha and list(loaded) == list(net.state_dict())
    model = _card(wf).build_model(2, weights_dir=tmp_path)
    assert model.weights_sha256 == sha
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(model(x), net(x))


def test_wrong_hash_missing_and_wrong_architecture(tmp_path):
    sha = _save(tmp_path / "t.pth", _Tiny(2).state_dict())
    bad = WeightFile("t.pth", "0" * 64, (2,), "", "MIT")
    assert verify(bad, tmp_path) == "altered"
    with pytest.raises(WeightsError, match="t.pth: sha256"):
        load_state_dict(bad, tmp_path)
    assert verify(WeightFile("gone.pth", sha, (2,), "", ""), tmp_path) == "missing"
    with pytest.raises(WeightsError, match="gone.pth: checkpoint not found"):
        load_state_dict(WeightFile("gone.pth", sha, (2,), "", ""), tmp_path)
    other = _save(tmp_path / "o.pth", {"conv.weight": torch.zeros(5, 3, 3, 3)})
    with pytest.raises(RuntimeError, match="o.pth: does not fit Tiny x2"):
        _card(WeightFile("o.pth", other, (2,), "", "")).build_model(2, weights_dir=tmp_path)


class _Evil:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_pickled_code_is_refused(tmp_path, capsys):
    p = tmp_path / "evil.pth"
    with open(p, "wb") as f:
        pickle.dump({"x": _Evil()}, f)
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    # one whole sentence, not torch's paragraph cut mid-word (issue 18)
    with pytest.raises(WeightsError, match=r"evil\.pth: refused: the file needs pickle to load; srbench loads only "
                                           r"plain tensor checkpoints \(torch.load with weights_only=True\), never "
                                           r"code from a checkpoint$"):
        load_state_dict(WeightFile("evil.pth", sha, (2,), "", ""), tmp_path)
    assert "pickled code ran" not in capsys.readouterr().out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_fetch_over_loopback(tmp_path):
    src = tmp_path / "srv"
    src.mkdir()
    sha = _save(src / "t.pth", _Tiny(2).state_dict())
    (src / "bad.pth").write_bytes(b"not it")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(_Quiet, directory=str(src)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        wf = WeightFile("t.pth", sha, (2,), f"{base}/t.pth", "MIT")
        dest = fetch(wf, tmp_path / "w")
        assert verify(wf, tmp_path / "w") == "ok" and dest.name == "t.pth"
        wrong = WeightFile("x.pth", sha, (2,), f"{base}/bad.pth", "MIT")
        with pytest.raises(WeightsError, match="x.pth: downloaded .* differs"):
            fetch(wrong, tmp_path / "w")
        assert not (tmp_path / "w" / "x.pth").exists()
        with pytest.raises(WeightsError, match="download .* failed"):
            fetch(WeightFile("y.pth", sha, (2,), f"{base}/none.pth", ""), tmp_path / "w")
    finally:
        srv.shutdown()


def test_registry_lookup_is_case_insensitive_and_knows_bicubic():
    assert registry.get("BICUBIC") is registry.get("bicubic")
    assert "Bicubic" in registry.names()
    with pytest.raises(registry.UnknownModel, match="unknown model 'zzz'"):
        registry.get("zzz")
    card = registry.get("bicubic")
    with pytest.raises(ValueError, match="does not support scale x1"):
        card.build_model(1)
    assert card.build_model(4).weights_sha256 == ""
