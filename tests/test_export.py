"""Sharing results: ``srbench export`` bundles, several sources on one site, ``check --reference BUNDLE``,
the bundle as a Hugging Face dataset, and ``data fetch --source hf:`` from a folder in the HF layout."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from benchmark import site, store
from benchmark.cli import main
from benchmark.export import TABLE_FILES, export, open_source
from tests.test_results import CPU, H100, MODELS, make_results

ALICE = "submitted by Alice (Lab A)"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(r, *words):
    lines = [x for x in r.output.strip().splitlines() if x.strip()]
    assert r.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), r.output
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def canonical(tmp_path_factory):
    return make_results(tmp_path_factory.mktemp("export") / "results")


@pytest.fixture(scope="module")
def bundle(canonical, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "alice"
    r = _invoke("export", "--results", canonical, "--models", "IMDN,rlfn-ntire", "--out", out,
                "--source-label", ALICE)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def external(tmp_path_factory):
    """A bundle of a model the canonical results do not have (MyNet), measured on hardware whose name is
    the canonical one's: an H100 and the same CPU."""
    d = make_results(tmp_path_factory.mktemp("elsewhere") / "results")
    for t in ("summary", "images", "profile"):
        df = store.read(d, t)
        df = df[df["model"] == "IMDN"].assign(model="MyNet", variant="MyNet", weights_sha256="e" * 64)
        if t == "profile":
            df = df.assign(runtime_ms=df["runtime_ms"] * 3 + 0.25)
        store.table_path(d, t).unlink()
        store.upsert(d, t, df)
    out = d.parent / "bob"
    export(d, out, source_label="submitted by Bob")
    return out


# ------------------------------------------------------------------------------------ the bundle


def test_bundle_manifest_and_tables(canonical, bundle):
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["format"] == "srbench-bundle" and info["format_version"] == 1
    assert info["source_label"] == ALICE and info["srbench_version"] == "0.1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", info["created_at"])
    assert [m["model"] for m in info["models"]] == ["IMDN", "RLFN-ntire"]
    # the weights of each variant are the ones the results were measured with (tests/test_results.py)
    assert info["weights_sha256"] == {"IMDN": [MODELS["IMDN"][1]], "RLFN-ntire": [MODELS["RLFN-ntire"][1]]}
    assert set(info["devices"]) == {H100, f"{CPU}, 2 threads"}  # the hardware, as the rows name it
    assert info["environments"] and all("device" in e for e in info["environments"])
    s = store.read_file(bundle / TABLE_FILES["summary"], "summary")
    want = store.read(canonical, "summary")
    want = want[want["model"].isin(["IMDN", "RLFN-ntire"])]
    assert len(s) == len(want) == info["tables"]["summary"]["rows"]
    assert set(s["source"]) == {ALICE}
    assert sorted(s["psnr"]) == sorted(want["psnr"])
    p = store.read_file(bundle / TABLE_FILES["profile"], "profile")
    assert set(p["model"]) == {"IMDN", "RLFN-ntire"} and set(p["source"]) == {ALICE}
    assert set(store.read_file(bundle / TABLE_FILES["cards"], "cards")["model"]) == {"IMDN", "RLFN-ntire"}
    assert list(store.read_file(bundle / TABLE_FILES["runs"], "runs")["run_id"]) == ["run1"]
    src = open_source(bundle)
    assert src.kind == "bundle" and src.label == ALICE


def test_dataset_card_header(bundle):
    text = (bundle / "README.md").read_text()
    header = text.split("---\n")[1]
    assert "license: cc-by-4.0" in header and "- super-resolution" in header
    configs = re.findall(r"- config_name: (\w+)\n  data_files: (\S+)", header)
    assert dict(configs) == TABLE_FILES
    assert all((bundle / f).is_file() for _, f in configs)
    assert "default: true" in header.split("config_name: images")[0]


def test_bundle_loads_with_datasets(bundle, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(bundle.parent / "hf-home"))
    n = json.loads((bundle / "bundle.json").read_text())["tables"]
    d = datasets.load_dataset("parquet", data_dir=str(bundle), cache_dir=str(bundle.parent / "hf-cache"))
    assert list(d) == ["train"] and d["train"].num_rows == n["summary"]["rows"]  # the summary rows only
    assert set(d["train"]["source"]) == {ALICE}
    for table in ("images", "profile"):  # the folder as a dataset repo: one config per table
        t = datasets.load_dataset(str(bundle), table, cache_dir=str(bundle.parent / "hf-cache"))
        assert t["train"].num_rows == n[table]["rows"]


def test_export_bad_input_writes_nothing(canonical, tmp_path):
    out = tmp_path / "b"
    _one_line_error(_invoke("export", "--results", canonical, "--models", "NoSuchNet", "--out", out,
                            "--source-label", "x"), "NoSuchNet", str(canonical))
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(_invoke("export", "--results", empty, "--out", out, "--source-label", "x"),
                    str(empty), "no summary rows")
    _one_line_error(_invoke("export", "--results", canonical, "--out", out, "--source-label", "  "), "--source-label")
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("keep")
    _one_line_error(_invoke("export", "--results", canonical, "--out", foreign, "--source-label", "x"),
                    str(foreign), "not an srbench bundle")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["docs", "empty"]
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]


# ------------------------------------------------------------------------------ several sources


@pytest.fixture(scope="module")
def multi(canonical, bundle, external, tmp_path_factory):
    out = tmp_path_factory.mktemp("multi") / "site"
    r = _invoke("site", "--results", canonical, "--results", external, "--results", bundle, "--out", out,
                "--no-visuals")
    assert r.exit_code == 0, r.output
    return out, r.output


def test_site_labels_sources_and_keeps_devices_apart(multi):
    out, output = multi
    html = (out / "lb-x4-bicubic.html").read_text()
    devices = re.findall(r'class="grp dev" title="([^"]*)"', html)
    bob_cpu = f"{CPU}, 2 threads · submitted by Bob"
    assert devices == [H100, f"{H100} · submitted by Bob", f"{CPU}, 2 threads", bob_cpu]
    # MyNet's own row: its label, and its runtimes only under Bob's device columns
    row = re.search(r'<tr data-i="\d+"[^>]*>\s*<td data-v="MyNet".*?</tr>', html, re.S).group(0)
    assert '<span class="badge source"' in row and ">submitted by Bob</span>" in row
    cells = re.findall(r'<td class="num" data-v="([^"]*)"', row)[-8:]  # (time, memory) on each of the 4 devices
    imdn = MODELS["IMDN"]
    h100, cpu = 22.0 * 3 + 0.25, 22.0 * 20 * 3 + 0.25  # make_results' IMDN runtimes, as the fixture changed them
    assert cells[0::2] == ["", repr(h100), "", repr(cpu)], cells
    # the canonical IMDN row is unlabelled; Alice's IMDN rows repeat its keys: the canonical ones are shown
    canon = re.search(r'<td data-v="IMDN".*?</tr>', html, re.S).group(0)
    assert "badge source" not in canon and f'data-v="{imdn[2][("Set5", 4)][0]!r}"' in canon
    assert "submitted by Alice" not in html
    assert f"{ALICE}: 8 summary row(s) already given by an earlier source" in output
    csv_rows = pd.read_csv(out / "data" / "lb-x4-bicubic.csv")
    assert csv_rows.set_index("variant").loc["MyNet", "source"] == "submitted by Bob"
    assert csv_rows.set_index("variant")["source"].drop("MyNet").isna().all()
    about = (out / "about.html").read_text()
    assert 'id="sources"' in about and "submitted by Bob" in about and ALICE in about
    # the old-protocol rows of both results folders are left out, and said
    assert "canonical: 1 summary row(s) under another protocol" in output


def test_one_results_folder_renders_as_before(canonical, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    site.render(canonical, a, visuals=False)
    site.render([canonical], b, visuals=False)
    assert site.diff_trees(a, b) == []
    assert "badge source" not in (a / "index.html").read_text() and 'id="sources"' not in (a / "about.html").read_text()
    assert "source" not in pd.read_csv(a / "data" / "lb-x4-bicubic.csv").columns


def test_site_and_check_refuse_a_folder_that_is_no_source(canonical, tmp_path):
    other = tmp_path / "pictures"
    other.mkdir()
    (other / "cat.png").write_bytes(b"")
    out = tmp_path / "site"
    _one_line_error(_invoke("site", "--results", canonical, "--results", other, "--out", out),
                    str(other), "neither a results folder")
    assert not out.exists()
    _one_line_error(_invoke("check", "--reference", other), str(other), "neither a results folder", "bundle")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bundle.json").write_text('{"format": "something else"}')
    _one_line_error(_invoke("site", "--results", broken, "--out", out), "bundle.json", "not an srbench bundle")
    assert not out.exists()


# --------------------------------------------------------------------------- check --reference


@pytest.mark.data
def test_check_reproduces_a_bundle_and_fails_on_a_moved_number(data_root, tmp_path):
    res = tmp_path / "res"
    r = _invoke("run", "--models", "bicubic", "--datasets", "Set5", "--scale", "4", "--results", res,
                "--data-root", data_root, "--cache-dir", tmp_path / "cache", "--quiet", "--device", "cpu")
    assert r.exit_code == 0, r.output
    b = tmp_path / "bundle"
    assert _invoke("export", "--results", res, "--out", b, "--source-label", "submitted by C").exit_code == 0
    r = _invoke("check", "--reference", b, "--data-root", data_root, "--cache-dir", tmp_path / "cache")
    assert r.exit_code == 0 and "OK: 1 reference row(s) reproduced" in r.output, r.output
    # the bundle claims 0.01 dB more than this machine measures: one FAIL line naming it
    f = b / TABLE_FILES["summary"]
    s = store.read_file(f, "summary")
    store.write_file(f, "summary", s.assign(psnr=s["psnr"] + 0.01))
    r = _invoke("check", "--reference", b, "--data-root", data_root, "--cache-dir", tmp_path / "cache")
    fails = [x for x in r.output.splitlines() if x.startswith("FAIL ")]
    assert r.exit_code == 1 and len(fails) == 1, r.output
    assert "Bicubic" in fails[0] and "Set5" in fails[0] and "-0.010" in fails[0]


# ----------------------------------------------------------------------------- data fetch hf:


def _manifest(name: str) -> dict[str, str]:
    """image -> sha256, read from the manifest file itself."""
    root = Path(__file__).resolve().parent.parent / "benchmark" / "manifests" / "datasets.tsv"
    with open(root) as f:
        return {r["name"]: r["sha256"] for r in csv.DictReader(f, delimiter="\t") if r["dataset"] == name}


def _hf_folder(folder: Path, hr_files: list[Path], *, columns=("HR", "LR"), alter: str | None = None) -> Path:
    """Set5 in the HF layout, written by the ``datasets`` library: HR/LR Image columns with the bytes."""
    datasets = pytest.importorskip("datasets")
    rows = {c: [] for c in columns}
    for p in hr_files:
        data = p.read_bytes()
        if p.stem == alter:  # one pixel changed: the image no longer matches the manifest
            arr = np.array(Image.open(p).convert("RGB"))
            arr[0, 0, 0] ^= 1
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG")
            data = buf.getvalue()
        lr = Image.open(p).convert("RGB").resize((8, 8))
        for c in columns:
            rows[c].append({"bytes": data, "path": p.name} if c == "HR" else lr)
    feats = datasets.Features({c: datasets.Image() for c in columns})
    (folder / "Set5").mkdir(parents=True)
    datasets.Dataset.from_dict(rows, features=feats).to_parquet(str(folder / "Set5" / "test-00000-of-00001.parquet"))
    return folder


@pytest.mark.data
def test_fetch_from_a_folder_in_the_hf_layout(data_root, tmp_path):
    hr = sorted((data_root / "Set5" / "HR").glob("*.png"))
    src = _hf_folder(tmp_path / "hub", hr)
    dest = tmp_path / "data"
    r = _invoke("data", "fetch", "--datasets", "Set5", "--source", f"hf:{src}", "--data-root", dest)
    assert r.exit_code == 0, r.output
    got = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in (dest / "Set5" / "HR").glob("*.png")}
    assert got == _manifest("Set5")
    assert _invoke("data", "verify", "--data-root", dest).exit_code == 0


@pytest.mark.data
def test_hf_source_bad_input_writes_nothing(data_root, tmp_path, monkeypatch):
    hr = sorted((data_root / "Set5" / "HR").glob("*.png"))
    dest = tmp_path / "data"
    no_hr = _hf_folder(tmp_path / "no-hr", hr, columns=("LR",))
    _one_line_error(_invoke("data", "fetch", "--datasets", "Set5", "--source", f"hf:{no_hr}", "--data-root", dest),
                    "test-00000-of-00001.parquet", "no HR image column")
    altered = _hf_folder(tmp_path / "altered", hr, alter="bird")
    _one_line_error(_invoke("data", "fetch", "--datasets", "Set5", "--source", f"hf:{altered}", "--data-root", dest),
                    "Set5/bird", "differ from the manifest")
    short = _hf_folder(tmp_path / "short", hr[:-1])
    _one_line_error(_invoke("data", "fetch", "--datasets", "Set5", "--source", f"hf:{short}", "--data-root", dest),
                    f"missing {hr[-1].stem}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a repo id goes to the Hub, unreachable here: one line
    _one_line_error(_invoke("data", "fetch", "--datasets", "Set5", "--source", "hf:nobody/no-such-set",
                            "--data-root", dest), "hf:nobody/no-such-set", "Hugging Face Hub")
    assert not (dest / "Set5").exists()
