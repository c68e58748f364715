"""Datasets: manifest checks, reading HR images, the Demo fallback, fetching from a loopback server."""

import functools
import http.server
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from benchmark import data
from benchmark.data import DataError, ImageRef, read_hr


def _ref(path):
    return ImageRef("Custom", path.stem, path, "")


def test_manifest_lists_known_sets():
    m = data.manifest()
    assert {k: len(v) for k, v in m.items()} == {"Set5": 5, "Set14": 14, "B100": 100, "Urban100": 100,
                                                  "Manga109": 109}
    assert m["Set14"]["bridge"].mode == "L"
    assert (m["Manga109"]["PrayerHaNemurenai"].width, m["Manga109"]["PrayerHaNemurenai"].height) == (742, 1072)


@pytest.fixture
def set5_copy(tmp_path, data_root):
    shutil.copytree(data_root / "Set5", tmp_path / "Set5")
    return tmp_path


def test_known_set_ok_missing_altered(set5_copy):
    (st,) = data.scan(set5_copy)
    assert (st.name, st.kind, st.state, st.n_images) == ("Set5", "standard", "ok", 5)
    p = set5_copy / "Set5" / "HR" / "bird.png"
    raw = bytearray(p.read_bytes())
    raw[-20] ^= 0x01
    p.write_bytes(bytes(raw))
    (st,) = data.scan(set5_copy)
    assert st.state == "altered files" and any("bird.png" in x for x in st.problems)
    (set5_copy / "Set5" / "HR" / "head.png").unlink()
    (st,) = data.scan(set5_copy)
    assert st.state == "missing files" and any("head.png" in x for x in st.problems)
    with pytest.raises(DataError, match="head.png"):
        data.load("Set5", set5_copy)


def test_reencoded_png_still_ok(set5_copy):
    p = set5_copy / "Set5" / "HR" / "baby.png"
    Image.open(p).save(p, compress_level=9)  # same pixels, other bytes
    assert data.scan(set5_copy)[0].state == "ok"


def test_custom_set_and_demo_fallback(tmp_path):
    (tmp_path / "Mine" / "HR").mkdir(parents=True)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "Mine" / "HR" / "a.png")
    sets = data.resolve_datasets("all", tmp_path)
    assert [s.name for s in sets] == ["Mine", "Demo"]
    assert sets[0].kind == "custom" and sets[1].kind == "demo" and len(sets[1].images) == 5
    img = read_hr(next(i for i in sets[1].images if i.name == "camera"))
    assert img.gray and img.pixels.shape == (512, 512, 3)


def test_unknown_set_and_empty_set(tmp_path):
    with pytest.raises(DataError, match="'Nope' not found"):
        data.load("Nope", tmp_path)
    (tmp_path / "Empty" / "HR").mkdir(parents=True)
    with pytest.raises(DataError, match="Empty: no PNG images"):
        data.load("Empty", tmp_path)


def test_read_hr_bad_and_odd_images(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 24, 3)).astype(np.uint8)
    good = tmp_path / "good.png"
    Image.fromarray(rgb).save(good)
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="trunc.png"):
        read_hr(_ref(trunc))
    txt = tmp_path / "text.png"
    txt.write_text("not an image")
    with pytest.raises(DataError, match="text.png"):
        read_hr(_ref(txt))
    deep = tmp_path / "deep.png"
    Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(deep)
    with pytest.raises(DataError, match="deep.png.*16-bit"):
        read_hr(_ref(deep))
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, np.full((20, 24), 9, np.uint8)])).save(rgba)
    out = read_hr(_ref(rgba))
    assert np.array_equal(out.pixels, rgb) and not out.gray  # alpha dropped
    pal = tmp_path / "pal.png"
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(pal)
    assert read_hr(_ref(pal)).pixels.shape == (20, 24, 3)
    with pytest.raises(DataError, match="smaller than the scale"):
        read_hr(_ref(good), min_size=32)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_fetch_from_loopback_mirror(tmp_path, data_root):
    # Lay the Set5 files out under the URL paths the manifest gives, serve them on 127.0.0.1.
    mirror = tmp_path / "mirror"
    for e in data.manifest()["Set5"].values():
        rel = e.url.split("://", 1)[1].split("/", 1)[1]
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_root / "Set5" / "HR" / f"{e.name}.png", mirror / rel)
    # one file served with wrong bytes must be refused and not written
    bad = next(iter(data.manifest()["Set5"].values()))
    handler = functools.partial(_Quiet, directory=str(mirror))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        written = data.fetch("Set5", tmp_path / "root", mirror=url)
        assert len(written) == 5
        assert data.scan(tmp_path / "root")[0].state == "ok"
        assert data.fetch("Set5", tmp_path / "root", mirror=url) == []  # already there: nothing to do
        rel = bad.url.split("://", 1)[1].split("/", 1)[1]
        (mirror / rel).write_bytes(b"tampered")
        with pytest.raises(DataError, match="sha256"):
            data.fetch("Set5", tmp_path / "root2", mirror=url)
        # no half state (issue 18): no Set5/HR folder that 'srbench list' would call a broken set,
        # and no staging folder left behind
        assert not (tmp_path / "root2" / "Set5").exists() and not list((tmp_path / "root2").iterdir())
        assert data.scan(tmp_path / "root2") == []
        # a failed refresh of a complete set leaves it as it was
        (tmp_path / "root" / "Set5" / "HR" / f"{bad.name}.png").unlink()
        with pytest.raises(DataError, match="sha256"):
            data.fetch("Set5", tmp_path / "root", mirror=url)
        assert len(list((tmp_path / "root" / "Set5" / "HR").glob("*.png"))) == 4
        assert sorted(p.name for p in (tmp_path / "root").iterdir()) == ["Set5"]
    finally:
        srv.shutdown()


def test_fetch_refuses_manga109(tmp_path):
    with pytest.raises(DataError, match="may not be redistributed"):
        data.fetch("Manga109", tmp_path)
