"""Checkpoint handling: sha256 before unpickling, weights_only loading, downloads via loopback."""

import functools
import hashlib
import http.server
import pickle
import threading
from collections import OrderedDict
from pathlib import Path

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


# ------------------------------------------------------------------ checkpoints shipped in the package

SHIPPED = Path(registry.__file__).resolve().parent / "shipped"


def _shipped_files():
    return sorted(SHIPPED.glob("*.pth"))


def test_shipped_checkpoints_are_small_licensed_and_exactly_their_cards():
    """Each shipped file: under 1 MiB, ~3 MB in all, the sha256 its card names (hashed here), a
    redistributable (MIT) licence whose text lies next to it and is named in the README."""
    files = _shipped_files()
    assert len(files) >= 3
    assert all(p.stat().st_size < 2**20 for p in files) and sum(p.stat().st_size for p in files) <= 3_000_000
    by_file = {w.file: (c, w) for c in registry.cards() for w in c.weights}
    readme = (SHIPPED / "README.md").read_text()
    for p in files:
        card, wf = by_file[p.name]
        assert hashlib.sha256(p.read_bytes()).hexdigest() == wf.sha256, p.name
        assert wf.license.startswith("MIT (Copyright "), wf.license
        holder = wf.license.split("Copyright ", 1)[1].split(";")[0].rstrip(")")
        licences = [t for t in SHIPPED.glob("LICENSE-*.txt") if f"Copyright (c) {holder}\n" in t.read_text()]
        assert len(licences) == 1 and "Permission is hereby granted, free of charge" in licences[0].read_text()
        assert f"`{p.name}`" in readme and licences[0].name in readme


def test_weights_folder_wins_over_the_shipped_copy_and_the_hash_still_applies(tmp_path, monkeypatch):
    import registry.weights as w

    net = _Tiny(2)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    sha = _save(shipped / "t.pth", net.state_dict())
    monkeypatch.setattr(w, "SHIPPED_DIR", shipped)
    wf = WeightFile("t.pth", sha, (2,), "", "MIT")
    empty = tmp_path / "weights"
    assert w.weight_path(wf, empty) == shipped / "t.pth" and w.is_shipped(wf, empty)
    assert verify(wf, empty) == "ok" and load_state_dict(wf, empty)[1] == sha
    # a file of the same name in the weights folder is used instead, even a damaged one
    empty.mkdir()
    (empty / "t.pth").write_bytes(b"not this")
    assert w.weight_path(wf, empty) == empty / "t.pth" and not w.is_shipped(wf, empty)
    assert verify(wf, empty) == "altered"
    (empty / "t.pth").unlink()
    # the shipped copy is checked like any other
    (shipped / "t.pth").write_bytes(b"tampered")
    assert verify(wf, empty) == "altered"
    with pytest.raises(WeightsError, match="shipped/t.pth: sha256"):
        load_state_dict(wf, empty)
    # and a file that is nowhere is missing from the weights folder, where a fetch would put it
    gone = WeightFile("gone.pth", sha, (2,), "", "MIT")
    assert w.weight_path(gone, empty) == empty / "gone.pth" and verify(gone, empty) == "missing"


def test_fetch_fills_the_weights_folder_even_for_a_shipped_checkpoint(tmp_path):
    card = registry.get("SPAN-ntire24")
    wf = card.weights[0]
    src = SHIPPED / wf.file
    dest = fetch(wf, tmp_path / "w", url=src.as_uri())
    assert dest == tmp_path / "w" / wf.file and dest.read_bytes() == src.read_bytes()


def test_list_says_which_checkpoints_are_shipped(tmp_path):
    from click.testing import CliRunner

    from benchmark.cli import main

    r = CliRunner().invoke(main, ["list", "--weights-dir", str(tmp_path), "--data-root", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rows = {ln.split()[0]: ln for ln in r.output.splitlines() if ln.strip()}
    for p in _shipped_files():
        (name,) = [c.name for c in registry.cards() if any(w.file == p.name for w in c.weights)]
        assert f"{p.name}: ok (shipped)" in rows[name]
    assert "IMDN_x4.pth: missing" in rows["IMDN"]
