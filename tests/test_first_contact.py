"""A new user's first ten minutes (issue 18): each observation of that report, as a test.

1. the Quick start commands in either order (slow: a real clone), 2. file modes, 3. no traceback for
bad input in any command, 4. skips, blanks, resumes and interruptions said where they happen,
5. no half-states, 6. no noise, 7. a timing taken on a busy machine says so.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from benchmark import data, store
from benchmark.cli import main
from benchmark.compare import missing_reason
from benchmark.timing import LoadProbe

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def _run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


def _cli(*args, env=None, **kw):
    """The command in a fresh interpreter, as a user types it."""
    return subprocess.run([sys.executable, "-c", "from benchmark.cli import main; main()", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, **kw)


def _custom_set(root: Path, name="Mine", n=3, size=(24, 32)) -> Path:
    d = root / name / "HR"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(d / f"{k}.png")
    return root


# ------------------------------------------------------------------- 1. the Quick start, in any order


@pytest.mark.slow
def test_quick_start_run_does_not_touch_the_canonical_results_and_the_site_check_passes(tmp_path):
    """In a fresh clone: ``srbench run`` (the Quick start's first command) writes to the user's own
    results folder, so the clone's tracked results/ and site/ stay as committed and the test stage's
    site check (the second command's slow part) passes; and again the other way round."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    home = tmp_path / "home"
    env = {"HOME": str(home), "PYTHONPATH": str(clone), "SRBENCH_DATA": "", "SRBENCH_WEIGHTS": "",
           "SRBENCH_RESULTS": "", "XDG_DATA_HOME": "", "XDG_CACHE_HOME": ""}
    env = {k: v for k, v in {**os.environ, **env}.items() if v != ""}

    def site_check():
        return subprocess.run([sys.executable, "-c", "from benchmark.cli import main; main()", "site",
                               "--results", "results", "--out", "site", "--check"], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=600)

    for order in ("run first", "check first"):
        if order == "check first":
            c = site_check()
            assert c.returncode == 0, c.stdout + c.stderr
        r = subprocess.run([sys.executable, "-c", "from benchmark.cli import main; main()", "run", "--quiet"],
                           cwd=clone, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stdout + r.stderr
        results = home / ".local" / "share" / "srbench" / "results"
        assert "Demo" in r.stdout and str(results) in r.stdout
        _assert_real_models_beside_bicubic(store.read(results, "summary"))
        status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True)
        assert status.stdout == "", status.stdout  # nothing tracked (or new) in the clone was written
        c = site_check()
        assert c.returncode == 0, c.stdout + c.stderr


def _assert_real_models_beside_bicubic(summary: pd.DataFrame) -> None:
    """At least three real models on Demo next to Bicubic, each beating it (a real model, not noise)."""
    ok = summary[(summary["dataset"] == "Demo") & (summary["status"] == "ok")].set_index("variant")["psnr"]
    real = ok.drop("Bicubic")
    assert len(real) >= 3, ok
    assert (real > ok["Bicubic"] + 1.0).all(), ok  # ~2 dB better at x4 on these photographs


def test_a_fresh_machine_selects_the_shipped_checkpoints(tmp_path):
    """No weights folder: 'all' at x4 still selects the models whose checkpoints ship in the package."""
    from registry.select import select

    chosen, _ = select("all", [4], weights_dir=tmp_path / "empty")
    names = {s.variant for s in chosen}
    assert {"Bicubic", "SPAN-ntire24", "SPANtiny-ntire24", "BSRN-S"} <= names and len(names - {"Bicubic"}) >= 3


# ------------------------------------------------------------------------------------ 2. file modes


def test_files_keep_the_folders_normal_permissions(tmp_path):
    """umask 022: every file srbench writes is 0644 and every folder 0755, after atomic replacement too
    (mkstemp's 0600 used to survive the rename)."""
    old = os.umask(0o022)
    try:
        root = _custom_set(tmp_path / "data")
        res = tmp_path / "results"
        for _ in range(2):  # the second run replaces the tables
            r = _run("run", "--models", "bicubic", "--datasets", "Mine", "--scale", "2", "--data-root", str(root),
                     "--results", str(res), "--cache-dir", str(tmp_path / "cache"), "--quiet")
            assert r.exit_code == 0, r.output
        site = tmp_path / "site"
        assert _run("site", "--results", str(res), "--out", str(site)).exit_code == 0
        written = [p for d in (res, site, tmp_path / "cache") for p in d.rglob("*") if ".srbench.lock" not in p.name]
        assert written
        modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in written}
        bad = {p: oct(m) for p, m in modes.items() if m != (0o755 if (tmp_path / p).is_dir() else 0o644)}
        assert not bad, bad
        assert stat.S_IMODE(site.stat().st_mode) == 0o755
    finally:
        os.umask(old)


# ------------------------------------------------------------------ 3. one line, never a traceback


def _sweep(tmp_path, readonly_dir):
    root = _custom_set(tmp_path / "data")
    missing = tmp_path / "nowhere"
    ro = readonly_dir / "out"
    return [
        ("run", "--models", "bicubic", "--datasets", "Mine", "--scale", "2", "--data-root", str(root),
         "--results", str(ro), "--quiet"),
        ("profile", "--models", "bicubic", "--scale", "2", "--size", "16x16", "--no-timing", "--results", str(ro)),
        ("site", "--results", str(ROOT / "results"), "--out", str(ro)),
        ("visuals", "--results", str(readonly_dir)),
        ("data", "fetch", "--datasets", "Set5", "--data-root", str(ro)),
        ("weights", "fetch", "--models", "IMDN", "--weights-dir", str(ro)),
        ("results", "--results", str(missing)),
        ("site", "--results", str(missing), "--out", str(tmp_path / "s")),
        ("check", "--reference", str(missing)),
        ("run", "--datasets", "Set5", "--data-root", str(missing), "--results", str(tmp_path / "r"), "--quiet"),
        ("run", "--models", "bicubic", "--scale", "x4", "--results", str(tmp_path / "r")),
        ("profile", "--models", "bicubic", "--size", "big", "--results", str(tmp_path / "r")),
        ("run", "--models", "NoSuchNet", "--results", str(tmp_path / "r")),
        ("site", "--data-root", str(root), "--results", str(ROOT / "results"), "--out", str(tmp_path / "s2")),
    ]


def test_every_command_answers_bad_input_with_one_line(tmp_path, readonly_dir):
    """A read-only output path, a missing input path, a bad option value: for each command a non-zero
    exit and one line naming the path or option, no traceback (``--debug`` shows it)."""
    for args in _sweep(tmp_path, readonly_dir):
        r = _cli(*args, timeout=300)
        out = (r.stdout + r.stderr).strip()
        assert r.returncode != 0, (args, out)
        assert "Traceback" not in out, (args, out)
        last = out.splitlines()[-1]
        assert last.startswith("Error"), (args, out)
        named = [a for a in args if a.startswith("/") or a.startswith("--") or a in ("x4", "big", "NoSuchNet")]
        assert any(Path(a).name in last or a in last for a in named), (args, last)
    r = _cli("--debug", "site", "--results", str(tmp_path / "nowhere"), "--out", str(tmp_path / "s"), timeout=120)
    assert r.returncode != 0 and "Traceback" in r.stderr


# ------------------------------------------- 4. skips, blanks, resumes and interruptions, said


def test_models_without_the_scale_are_summarised(tmp_path):
    root = _custom_set(tmp_path / "data", size=(80, 120))
    r = _run("run", "--models", "all", "--datasets", "Mine", "--scale", "5", "--data-root", str(root),
             "--results", str(tmp_path / "r"), "--weights-dir", str(tmp_path / "w"), "--quiet")
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("skipped:")]
    assert any("model(s) without x5: " in ln and "more)" in ln for ln in lines), r.output  # one short line
    # the missing checkpoints: one line with the folder and the fetch hint, not one per file
    miss = [ln for ln in lines if "checkpoint(s) not in" in ln]
    assert len(miss) <= 1 and all("srbench weights fetch" in ln for ln in miss)


def test_all_missing_checkpoints_are_one_line_with_the_fetch_hint(tmp_path):
    # the shipped checkpoints are evaluated: BSRN-S's attention pools need an LR of 16 px or more
    root = _custom_set(tmp_path / "data", size=(64, 80))
    r = _run("run", "--models", "all", "--datasets", "Mine", "--scale", "4", "--data-root", str(root),
             "--results", str(tmp_path / "r"), "--weights-dir", str(tmp_path / "w"), "--quiet")
    assert r.exit_code == 0, r.output
    assert "is missing; skipped" not in r.output  # the old one-line-per-file noise
    (line,) = [ln for ln in r.output.splitlines() if "checkpoint(s) not in" in ln]
    n = int(line.split("skipped: ", 1)[1].split(" ", 1)[0])
    assert n >= 25 and str(tmp_path / "w") in line and "'srbench weights fetch'" in line


def test_a_blank_published_number_says_why():
    ntire_only = {"published": [{"dataset": "DIV2K_LSDIR_valid", "scale": 4, "metric": "ntire_rgb"}]}
    assert "only NTIRE RGB PSNR" in missing_reason(ntire_only, "Set5", 4)
    assert missing_reason({"published": []}, "Set5", 4) == "the card publishes no numbers"
    y = {"published": [{"dataset": "Set5", "scale": 4, "metric": "y", "degradation": "bicubic"}]}
    assert missing_reason(y, "Urban100", 4) == "no published Urban100 x4 bicubic number"


@pytest.mark.weights
def test_run_footnotes_the_blank_published_column(tmp_path, data_root, weights_root):
    r = _run("run", "--models", "RLFN-ntire", "--datasets", "Set5", "--scale", "4", "--data-root", str(data_root),
             "--weights-dir", str(weights_root), "--results", str(tmp_path / "r"), "--quiet")
    assert r.exit_code == 0, r.output
    assert "pub.PSNR is blank where there is nothing to compare with:" in r.output
    assert "RLFN-ntire: the card publishes only NTIRE RGB PSNR" in r.output


def test_site_says_why_it_has_no_visuals(tmp_path):
    res = tmp_path / "res"
    shutil.copytree(ROOT / "results", res, ignore=shutil.ignore_patterns("visuals", "images.parquet"))
    r = _run("site", "--results", str(res), "--out", str(tmp_path / "s"))
    assert r.exit_code == 0 and "0 visual(s) (the results hold none: 'srbench visuals' makes them)" in r.output


def test_resume_notice_comes_first_and_the_bar_starts_at_the_resumed_count(tmp_path):
    """A run interrupted after its first item: the same command says so before it works, and its
    progress bar starts at the images already done."""
    root = _custom_set(tmp_path / "data", n=4)
    args = ["run", "--models", "bicubic", "--datasets", "Mine", "--scale", "2,3", "--data-root", str(root),
            "--results", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    # interrupt the first attempt right after the first item is stored (a stand-in for kill -9)
    code = ("import os, benchmark.evaluate as e\n"
            "real = e.EvalJob.finish\n"
            "def finish(self, *a, **k):\n"
            "    out = real(self, *a, **k)\n"
            "    os._exit(9)\n"
            "e.EvalJob.finish = finish\n"
            "from benchmark.cli import main; main()")
    first = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=300)
    assert first.returncode == 9
    again = _cli(*args, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    err = again.stderr
    notice = "resuming an interrupted run (attempt 2): 4 of 8 images were already done"
    assert notice in err
    assert err.index(notice) < err.index("8/8")  # said before the work, not at the end
    assert "4/8" in err  # the bar starts at the resumed count


@pytest.mark.parametrize("command", ["run", "profile"])
def test_ctrl_c_exits_130_in_every_command(tmp_path, command):
    root = _custom_set(tmp_path / "data", n=2, size=(64, 80))  # LR over _faulty_models.BIG: T-hang hangs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    common = ["--results", str(tmp_path / "r")]
    if command == "run":
        args = ["run", "--models", "T-hang", "--datasets", "Mine", "--scale", "2", "--data-root", str(root), *common]
    else:
        args = ["profile", "--models", "T-hang", "--scale", "2", "--size", "32x32", *common]
    # a background job of a non-interactive shell (a CI script, say) inherits SIGINT ignored: give the
    # command the terminal's default, as a user pressing Ctrl-C has it
    code = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); import _faulty_models; "
            "from benchmark.cli import main; main()")
    p = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (tmp_path / "r" / ".journal").is_dir():
        time.sleep(0.1)
    time.sleep(3)  # inside the hanging forward pass
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, out + err
    assert "interrupted: run the same command again to resume" in err and "Traceback" not in err
    assert "Aborted!" not in out + err


# ------------------------------------------------------------------------------- 5. half-states


def test_list_and_verify_decode_every_image_of_a_custom_set(tmp_path):
    root = _custom_set(tmp_path / "data")
    bad = root / "Mine" / "HR" / "1.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    r = _run("list", "--data-root", str(root))
    assert "Mine" in r.output and "1 of 3 images unreadable" in r.output and "unreadable Mine/HR/1.png" in r.output
    v = _run("data", "verify", "--data-root", str(root))
    assert v.exit_code == 1 and "1 of 3 images unreadable" in v.output
    assert data.scan(root)[0].state == "1 of 3 images unreadable"


# ------------------------------------------------------------------------------------- 6. noise


def test_help_shows_every_default_path_expanded():
    r = _run("run", "--help")
    assert r.exit_code == 0 and "~/" not in r.output and str(Path.home()) in r.output


def test_memory_column_has_a_human_label(tmp_path):
    from tests.test_results import make_results

    res = make_results(tmp_path / "results")
    r = _run("results", "--results", str(res), "--scale", "4", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "cpu_peak_rss_minus_baseline" not in r.output
    assert "peak resident memory above the process's baseline" in r.output


def test_published_table_tool_has_a_legend():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "published_table.py"), str(ROOT / "results")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("Published vs reproduced") and "`*`" in r.stdout


# --------------------------------------------------------------------------- 7. a busy machine


def _spin(seconds: float) -> None:
    t = time.monotonic()
    while time.monotonic() - t < seconds:
        pass


def test_load_probe_sees_another_process_using_a_core():
    probe = LoadProbe()
    p = mp.get_context("spawn").Process(target=_spin, args=(2.0,))
    p.start()
    p.join()
    got = probe.read()
    assert got["load_other_cores"] > 0.4 and got["busy"] is True


def test_busy_profile_rows_are_flagged_in_the_row_and_on_the_site(tmp_path):
    from benchmark import site
    from tests.test_results import make_results

    res = make_results(tmp_path / "results")
    p = store.read(res, "profile")
    p.loc[p["variant"] == "IMDN", ["busy", "load_other_cores"]] = [True, 0.93]
    store.upsert(res, "profile", p.astype({"busy": object}))
    site.render(res, tmp_path / "s", visuals=False)
    page = (tmp_path / "s" / "models" / "imdn.html").read_text()
    assert "⚠ busy" in page and "other processes used 0.93 cores" in page
    assert "⚠ busy" not in (tmp_path / "s" / "models" / "rlfn-ntire.html").read_text()
    assert pd.api.types.is_float_dtype(store.read(res, "profile")["load_other_cores"])
