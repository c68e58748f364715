"""The static site: pages, links, self-containment, determinism, ``site --check``, atomic swaps, visuals."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

import registry
from benchmark import site, store
from benchmark.cli import main
from tests.test_check import NAME, TinyNet, save_tiny_weights, tiny_card  # noqa: F401
from tests.test_results import ARCH_ONLY, MODELS, make_results


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    d = tmp_path_factory.mktemp("site")
    res = make_results(d / "results")
    out = d / "site"
    info = site.render(res, out, visuals=False)
    return res, out, info


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for attr in ("href", "src"):
            if a.get(attr) is not None:
                self.refs.append((tag, attr, a[attr]))

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_pages_exist(rendered):
    _, out, info = rendered
    assert info["tracks"] == 4 and info["models"] >= len(MODELS)
    for f in ("index.html", "about.html", "lb-x4-bicubic.html", "lb-x2-bicubic.html", "lb-x4-bicubic-gray-y.html",
              "lb-x4-jpeg40.html", "models/index.html", "models/imdn.html", "models/rlfn-ntire.html",
              "models/bsrn-s.html", "models/lmswn.html", "static/style.css", "static/site.js",
              "plots/lb-x4-bicubic-params.svg", "plots/lb-x4-bicubic-flops.svg", "plots/lb-x4-bicubic-runtime.svg",
              "data/lb-x4-bicubic.csv", site.MARKER):
        assert (out / f).is_file(), f
    csv = pd.read_csv(out / "data" / "lb-x4-bicubic.csv")
    assert set(csv["variant"]) == set(MODELS) | set(ARCH_ONLY)


def test_leaderboard_html(rendered):
    _, out, _ = rendered
    html = (out / "index.html").read_text()
    assert html == (out / "lb-x4-bicubic.html").read_text()  # the default track is the index
    rows = re.findall(r'<tr data-i="\d+" data-family="([^"]*)" data-kind="([^"]*)" data-weights="(yes|no)">', html)
    assert len(rows) == len(MODELS) + len(ARCH_ONLY)
    for v in list(MODELS) + list(ARCH_ONLY):
        assert f">{v}</a>" in html, v
    # accuracy: full precision for sorting, 2/4 decimals shown
    assert 'data-v="32.206">32.21</td>' in html and ">0.8948</td>" in html
    # both efficiency devices, each in its own columns, named in the header and the legend
    assert html.count("NVIDIA H100 80GB HBM3") >= 2 and "CPU: Test CPU @ 2GHz, 2 threads" in html
    assert ">22.00</td>" in html and ">440.00</td>" in html  # H100 and CPU runtimes of IMDN
    assert ">0.50<" not in html  # the fp16 row is not in the fp32 columns
    # the old protocol's 99.0 never shows
    assert "99.00" not in html and "srbench-0" not in html
    # filters and the architecture-only model
    assert '<select name="family">' in html and '<select name="kind">' in html and 'name="weights"' in html
    assert ('<option value="mamba">mamba</option>' in html) and "no weights</span>" in html
    # the paper delta: IMDN's published Set5 x4 is 32.21 (IMDN card), ours 32.206
    assert re.search(r'class="num delta" data-v="[0-9.e-]+"[^>]*>-0\.00 <small>Set5</small>', html)
    gray_y = (out / "lb-x4-bicubic-gray-y.html").read_text()
    assert "25.997" in gray_y and "26.09<" not in gray_y and "<code>y</code> convention" in gray_y


def test_links_resolve_and_nothing_external(rendered):
    _, out, _ = rendered
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 10
    parsed = {p: _parse(p) for p in pages}
    for page, links in parsed.items():
        for tag, attr, value in links.refs:
            u = urlparse(value)
            if u.scheme or value.startswith("//"):
                # only plain hyperlinks (papers, checkpoint downloads) may leave the site
                assert tag == "a" and u.scheme in ("https", "http"), f"{page.name}: external {tag} {attr}={value}"
                continue
            path, frag = urldefrag(value)
            target = (page.parent / path).resolve() if path else page
            assert target.is_file(), f"{page.relative_to(out)}: {tag} {attr}={value} does not resolve"
            assert out.resolve() in target.parents or target == out.resolve(), value
            if frag and target.suffix == ".html":
                assert frag in parsed[target].ids, f"{page.relative_to(out)}: anchor #{frag} missing in {path}"
    for f in list(out.rglob("*.css")) + list(out.rglob("*.js")):
        text = f.read_text()
        assert not re.search(r"https?://|@import|url\(", text), f"{f.name} references something outside"
    svg = (out / "plots" / "lb-x4-bicubic-params.svg").read_text()
    assert "<image" not in svg and "xlink:href=\"http" not in svg


def test_model_page(rendered):
    _, out, _ = rendered
    page = (out / "models" / "imdn.html").read_text()
    assert "Lightweight Image Super-Resolution with Information Multi-distillation Network" in page
    card = registry.get("IMDN")
    for w in card.weights:
        assert w.sha256 in page and w.file in page
    assert card.weights[0].license in page
    # published vs reproduced, with the delta; the old protocol's row is not there
    assert "32.21" in page and "99.00" not in page
    assert "IMDN ×4 · bicubic · gray <code>rgb</code>" in page
    assert re.search(r"<td>img?|<td>baby", page) and "butterfly" in page  # per-image rows
    # the visual was turned off: said so, no image
    assert "--no-visuals" in page and "visuals/" not in page
    # NTIRE RGB rows are a separate table, never a delta
    rl = (out / "models" / "rlfn-ntire.html").read_text()
    ntire = [p for p in registry.get("RLFN-ntire").published if p.metric == "ntire_rgb"]
    if ntire:
        head, tail = rl.split('id="ntire"', 1)
        assert "RGB protocol" in tail.split("</h2>", 1)[0]
        assert f"{ntire[0].psnr:.2f}" in tail.split('id="efficiency"', 1)[0]
    arch = (out / "models" / "lmswn.html").read_text()
    assert "No checkpoint is published" in arch and "No accuracy results" in arch
    about = (out / "about.html").read_text()
    assert "run1" in about and "NVIDIA H100 80GB HBM3" in about and "CPU: Test CPU @ 2GHz, 2 threads" in about
    assert "srbench-0" in about  # the other protocol is mentioned, not shown
    assert "Adding a model" in about


def _copy_results(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".srbench.lock"))
    return dst


def test_check_detects_a_stale_site(rendered, tmp_path):
    res, out, _ = rendered
    site_copy = tmp_path / "site"
    shutil.copytree(out, site_copy)
    ok = CliRunner().invoke(main, ["site", "--results", str(res), "--out", str(site_copy), "--check", "--no-visuals"])
    assert ok.exit_code == 0 and "up to date" in ok.output, ok.output  # deterministic: a re-render is identical
    # new results: the pages that show them are named
    res2 = _copy_results(res, tmp_path / "res2")
    s = store.read(res2, "summary")
    row = s[(s["variant"] == "IMDN") & (s["dataset"] == "Set5") & (s["scale"] == 4) & (s["degradation"] == "bicubic")
            & (s["protocol"] != "srbench-0")].assign(psnr=32.5)
    store.upsert(res2, "summary", row)
    (site_copy / "stray.html").write_text("x")
    (site_copy / "about.html").unlink()
    bad = CliRunner().invoke(main, ["site", "--results", str(res2), "--out", str(site_copy), "--check",
                                    "--no-visuals"])
    assert bad.exit_code == 1, bad.output
    assert "differs: lb-x4-bicubic.html" in bad.output and "differs: models/imdn.html" in bad.output
    assert "differs: data/lb-x4-bicubic.csv" in bad.output
    assert "not rendered any more: stray.html" in bad.output and "missing: about.html" in bad.output
    assert "differs: lb-x2-bicubic.html" not in bad.output  # untouched tracks are not named


def test_check_compares_plot_data_not_matplotlib_bytes(rendered, tmp_path):
    """Another matplotlib release writes the same plot with other bytes: not stale. Other data: stale."""
    from benchmark.site.plots import Point, data_fingerprint, pareto_svg, svg_fingerprint

    res, out, _ = rendered
    site_copy = tmp_path / "site"
    shutil.copytree(out, site_copy)
    svg = sorted((site_copy / "plots").glob("*.svg"))[0]
    name = str(svg.relative_to(site_copy))
    text = svg.read_text(encoding="utf-8")
    fp = svg_fingerprint(text)
    assert fp is not None and len(fp) == 64
    # same data, other bytes (as a matplotlib upgrade would give): still up to date
    svg.write_text(text.replace("<svg ", "<svg data-other-writer='1' ", 1), encoding="utf-8")
    assert site.check(res, site_copy, visuals=False) == []
    # the fingerprint is of the data: another point gives another one
    pts = [Point("A", 1.0, 30.0, "cnn"), Point("B", 2.0, 31.0, "cnn")]
    a = svg_fingerprint(pareto_svg(pts, "x", "y", "t"))
    assert a == data_fingerprint(pts, "x", "y", "t")
    assert a != svg_fingerprint(pareto_svg(pts[:1] + [Point("B", 2.0, 31.001, "cnn")], "x", "y", "t"))
    # a plot of other data with the same bytes otherwise: stale
    svg.write_text(text.replace(fp, "0" * 64), encoding="utf-8")
    assert site.check(res, site_copy, visuals=False) == [f"differs: {name}"]


def test_render_is_atomic_and_refuses_foreign_folders(rendered, tmp_path, monkeypatch):
    res, out, _ = rendered
    target = tmp_path / "site"
    shutil.copytree(out, target)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def boom(results_dir, tmp, *a, **k):
        (tmp / "index.html").write_text("half a site")
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(site, "render_into", boom)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        site.render(res, target, visuals=False)
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no temporary folder left behind
    monkeypatch.undo()
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "important.txt").write_text("keep me")
    r = CliRunner().invoke(main, ["site", "--results", str(res), "--out", str(foreign), "--no-visuals"])
    assert r.exit_code == 1 and "is not a srbench site" in r.output
    assert (foreign / "important.txt").read_text() == "keep me"
    r = CliRunner().invoke(main, ["site", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "s")])
    assert r.exit_code == 1 and "does not exist" in r.output


def test_profile_only_results(tmp_path):
    res = make_results(tmp_path / "r")
    (res / "summary.parquet").unlink()
    (res / "images.parquet").unlink()
    site.render(res, tmp_path / "s", visuals=False)
    assert "No accuracy results yet" in (tmp_path / "s" / "index.html").read_text()
    assert (tmp_path / "s" / "models" / "imdn.html").is_file()


def test_counts_only_row_says_it_was_not_timed(tmp_path):
    """A --no-timing profile row shows its counts and says it has no runtime (not an empty cell)."""
    from tests.test_results import CPU, _profile_row

    res = make_results(tmp_path / "r")
    row = _profile_row("LMSWN", "LMSWN", 4, CPU, 372_680, 24.3e9, float("nan"), float("nan"), threads=1)
    store.upsert(res, "profile", pd.DataFrame([{**row, "runs": 0}]))
    site.render(res, tmp_path / "s", visuals=False)
    page = (tmp_path / "s" / "models" / "lmswn.html").read_text()
    eff = page.split('id="efficiency"', 1)[1].split('id="visual"', 1)[0]
    assert eff.count("counts only: not timed") == 1  # the CPU row; the H100 row is timed
    assert "0.373" in eff and "24.30" in eff  # its params [M] and FLOPs [G] are shown
    assert "9.00" in eff  # the H100 row's runtime is still there


def test_efficiency_rows_say_how_many_runs_were_timed(tmp_path):
    """The model page gives each timed row's run count and its warm-up count (e.g. a --warmup 1
    --repeats 3 row of a model whose one CPU forward takes minutes)."""
    from tests.test_results import CPU, _profile_row

    res = make_results(tmp_path / "r")
    row = _profile_row("LMSWN", "LMSWN", 4, CPU, 372_680, 24.3e9, 378_000.0, 3300.0, threads=1)
    store.upsert(res, "profile", pd.DataFrame([{**row, "runs": 3, "warmup_runs": 1, "warmup_stable": False}]))
    site.render(res, tmp_path / "s", visuals=False)
    eff = (tmp_path / "s" / "models" / "lmswn.html").read_text().split('id="efficiency"', 1)[1]
    eff = eff.split('id="visual"', 1)[0]
    assert "378000.00" in eff and "3 <small>after 1</small>" in eff


def test_flop_figure_names_the_ops_it_leaves_out(tmp_path):
    """Uncounted ops are shown with the FLOP figure (its title), never silently dropped."""
    from tests.test_results import CPU, _profile_row

    res = make_results(tmp_path / "r")
    row = _profile_row("LMSWN", "LMSWN", 4, CPU, 372_680, 24.3e9, 9.0, 80.0, threads=1)
    store.upsert(res, "profile", pd.DataFrame([{**row, "flops_uncounted": "aten::sigmoid x4, aten::mul x4"}]))
    site.render(res, tmp_path / "s", visuals=False)
    eff = (tmp_path / "s" / "models" / "lmswn.html").read_text().split('id="efficiency"', 1)[1]
    assert 'title="not in FLOPs: aten::sigmoid x4, aten::mul x4">24.30</td>' in eff.split('id="visual"', 1)[0]


@pytest.fixture
def visual_env(tmp_path, monkeypatch):
    """The tiny model registered with its checkpoint, and a custom set holding the visual's image."""
    from benchmark.site import visuals

    wdir = tmp_path / "weights"
    fname, sha = save_tiny_weights(wdir)
    registry.cards()
    registry.register(tiny_card(fname, sha))
    d = tmp_path / "data" / "VisSet" / "HR"
    d.mkdir(parents=True)
    yy, xx = np.mgrid[0:216, 0:240]
    img = 128 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    Image.fromarray(np.stack([img, img * 0.7 + 30, 255 - img], 2).astype(np.uint8)).save(d / "pic.png")
    monkeypatch.setattr(visuals, "IMAGE_PREFERENCE", (("VisSet", "pic"),))
    try:
        yield tmp_path / "data", wdir
    finally:
        registry._CARDS.pop(NAME.lower(), None)


def test_visual_comparison(visual_env, tmp_path):
    """``srbench visuals`` runs the models on the crop and stores the panels with the results; the site
    copies them (it runs no model)."""
    data, wdir = visual_env
    from tests.test_check import _run_reference, make_tiny_set

    make_tiny_set(data)
    res = tmp_path / "res"
    _run_reference(data, wdir, tmp_path / "cache", res)
    made = CliRunner().invoke(main, ["visuals", "--results", str(res), "--data-root", str(data),
                                     "--weights-dir", str(wdir)])
    assert made.exit_code == 0 and "1 visual(s)" in made.output, made.output
    assert (res / "visuals" / "index.json").is_file() and (res / "visuals" / "x2-tinychecknet.png").is_file()
    out = tmp_path / "site"
    info = site.render(res, out)
    assert info["visuals"] == 1  # only the tiny model's checkpoint is here
    page = (out / "models" / "tinychecknet.html").read_text()
    assert 'src="../visuals/hr.png"' in page and 'src="../visuals/x2-bicubic.png"' in page
    assert 'src="../visuals/x2-tinychecknet.png"' in page and "VisSet/pic" in page
    hr = np.asarray(Image.open(out / "visuals" / "hr.png"))
    sr = np.asarray(Image.open(out / "visuals" / "x2-tinychecknet.png"))
    assert hr.shape == sr.shape == (120, 120, 3)
    # the crop is the HR region: the model's output is close to it (the tiny net is nearly nearest-neighbour)
    m = re.search(r"TinyCheckNet · ([0-9.]+) dB", page)
    assert m and float(m.group(1)) > 15
    # check: a one-level pixel difference in a visual is tolerated (CPU rounding), a real change is not
    ok = CliRunner().invoke(main, ["site", "--results", str(res), "--out", str(out), "--check"])
    assert ok.exit_code == 0, ok.output
    f = out / "visuals" / "x2-tinychecknet.png"
    arr = np.asarray(Image.open(f)).astype(np.int16)
    Image.fromarray(np.clip(arr + 1, 0, 255).astype(np.uint8)).save(f)
    assert site.check(res, out) == []
    Image.fromarray(np.clip(arr + 6, 0, 255).astype(np.uint8)).save(f)
    assert site.check(res, out) == ["differs: visuals/x2-tinychecknet.png"]
    # without stored visuals, the page says how to make them
    bare = tmp_path / "bare"
    shutil.copytree(res, bare, ignore=shutil.ignore_patterns("visuals"))
    site.render(bare, tmp_path / "site2")
    assert "run &#39;srbench visuals" in (tmp_path / "site2" / "models" / "tinychecknet.html").read_text()


@pytest.mark.parametrize("reason", ["self-ensembled table (test)", ""])
def test_known_issue_is_shown_as_such(tmp_path, monkeypatch, reason):
    """A published number that does not reproduce: red on the leaderboard and the model page, or,
    when the card gives a known-issue reason, amber with a dagger and the reason."""
    import dataclasses

    card = registry.get("IMDN")
    pubs = tuple(dataclasses.replace(p, psnr=32.40, known_issue=reason)
                 if (p.dataset, p.scale, p.metric) == ("Set5", 4, "y") else p for p in card.published)
    monkeypatch.setitem(registry._CARDS, "imdn", dataclasses.replace(card, published=pubs))
    res = make_results(tmp_path / "results")
    out = tmp_path / "site"
    site.render(res, out, visuals=False)
    lb = (out / "lb-x4-bicubic.html").read_text(encoding="utf-8")
    row = re.search(r'<tr data-i="\d+"[^>]*>\s*<td data-v="IMDN".*?</tr>', lb, re.S).group(0)
    page = (out / "models" / "imdn.html").read_text(encoding="utf-8")
    cell = re.search(r'<td class="num delta([^"]*)"[^>]*>-0\.19 <small>Set5</small>', row)
    assert cell is not None, row
    if reason:
        assert cell.group(1) == " known" and "<sup>†</sup>" in row and f"Known issue (model card): {reason}" in row
        assert f"† known issue: {reason}" in page and '<tr class="known">' in page
    else:
        assert cell.group(1) == " off" and "†" not in row
        assert "known issue:" not in page and '<tr class="off">' in page


_BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch.") or name in ("registry", "fvcore"):
            raise ImportError(f"blocked by the test: {name}")
        return None
sys.meta_path.insert(0, _NoTorch())
from benchmark.cli import main
main()
"""


def test_site_renders_from_the_committed_results_without_torch(tmp_path):
    """The site is a function of results/ alone: it renders (and checks) where importing torch, or the
    registry, raises."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "site"
    r = subprocess.run([sys.executable, "-c", _BLOCK_TORCH, "site", "--results", str(root / "results"),
                        "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "site written to" in r.stdout and (out / "index.html").is_file()
    assert site.diff_trees(out, root / "site") == []  # the same bytes as the committed site
    blocked = subprocess.run([sys.executable, "-c", _BLOCK_TORCH.replace("from benchmark.cli import main\nmain()",
                                                                         "import torch")],
                             capture_output=True, text=True, timeout=60)
    assert blocked.returncode != 0 and "blocked by the test: torch" in blocked.stderr  # the blocker works


def test_challenge_view_scores_by_the_years_rule_on_our_measurements():
    """NTIRE 2025's rule, computed by hand from the figures: exp(2 m / m_EFDN), 0.7/0.15/0.15."""
    import math

    from benchmark.challenges import RULES, score

    rule = RULES["NTIRE 2025 ESR"]
    base = {"runtime_ms": 100.0, "flops": 20e9, "params": 300_000}
    same = score(rule, base, base)
    assert same == pytest.approx(math.exp(2.0))  # the baseline scores e^2 whatever the weights
    half = score(rule, {"runtime_ms": 50.0, "flops": 20e9, "params": 150_000}, base)
    assert half == pytest.approx(0.7 * math.exp(1.0) + 0.15 * math.exp(2.0) + 0.15 * math.exp(1.0))
    assert math.isnan(score(rule, {"runtime_ms": float("nan"), "flops": 1.0, "params": 1.0}, base))
