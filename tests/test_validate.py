"""The model contract (benchmark/validate.py, ``srbench validate``): every registered card keeps it, and
stand-ins that break one clause each are failed on exactly that clause, named."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import pytest
import torch
from _faulty_models import Nearest, project_cards
from click.testing import CliRunner

import registry
from benchmark.cli import main
from benchmark.validate import CHECKS, FAIL, PASS, SKIP, card_problems, demo_lr, validate_card
from registry.base import ModelCard, Paper, Published, WeightFile

pytestmark = pytest.mark.usefixtures("one_thread")

# Measured on 2 busy cores, one thread: every other card keeps the whole contract in 0.1-4 s (~30 s in
# all); the Mamba cards take 80 s together (CU-Mamba 50 s, MambaCSR 20 s: their torch scans are traced
# and run at every scale), so they are the slow stage's.
_CARDS = [pytest.param(c.name, marks=pytest.mark.slow) if c.kind == "mamba" else c.name for c in project_cards()]


def _by_check(results, scale=None):
    return {r.check: r for r in results if scale is None or r.scale in (scale, None)}


# ------------------------------------------------------------------------- every registered card


@pytest.mark.parametrize("name", [c.name for c in project_cards()])
def test_card_fields_are_valid(name):
    assert card_problems(registry.get(name)) == []


@pytest.mark.parametrize("name", _CARDS)
def test_registered_card_keeps_the_contract(name):
    """At every scale and checkpoint: build, strict load, shape, range and determinism on the Demo crop,
    and no op the FLOP counter cannot classify (a silently dropped FLOP). Checkpoints come from
    $SRBENCH_WEIGHTS (or the shipped copies); where one is absent its load is skipped, except in CI
    (SRBENCH_REQUIRE_DATA=1), which has them all."""
    card = registry.get(name)
    results = validate_card(card, checks=CHECKS[1:])
    bad = [f"{r.variant} x{r.scale} {r.check}: {r.detail}" for r in results if r.failed]
    assert not bad, bad
    builds = sum(len(card.variants(s)) for s in card.scales)
    assert [r.check for r in results].count("shape") == builds
    assert all(r.status == PASS for r in results if r.check in ("build", "shape", "determinism", "flops"))
    if os.environ.get("SRBENCH_REQUIRE_DATA") == "1":
        missing = [r.detail for r in results if r.check == "load" and r.detail.startswith("no checkpoint:")]
        assert not missing, missing


# ------------------------------------------------------------------------------ the stand-ins


class Noisy(Nearest):
    """Adds fresh noise on every call: two forwards of one input differ."""

    def forward(self, x):
        out = super().forward(x)
        return out + 1e-3 * torch.rand_like(out)


class Hidden(torch.autograd.Function):
    """A custom autograd function: the JIT trace sees a PythonOp and none of its arithmetic."""

    @staticmethod
    def forward(ctx, x):
        return x * 2 - x


class HiddenOp(Nearest):
    def forward(self, x):
        return Hidden.apply(super().forward(x))


def _card(build=lambda s: Nearest(s), **fields) -> ModelCard:
    base = dict(name="Stand-in", family="Test", kind="cnn", scales=(2,), build=build,
                paper=Paper("A stand-in", "Tests", 2025, "https://example.org/paper"))
    return ModelCard(**{**base, **fields})


def _checkpoint(tmp_path, state: dict, name="stand-in_x2.pth") -> WeightFile:
    path = tmp_path / name
    torch.save(state, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return WeightFile(name, sha, (2,), "https://example.org/w.pth", "MIT")


def test_a_good_stand_in_passes_every_check_with_its_checkpoint(tmp_path):
    wf = _checkpoint(tmp_path, {"w": torch.ones(1)})
    results = validate_card(_card(weights=(wf,)), weights_dir=tmp_path)
    checks = _by_check(results)
    assert [r.check for r in results] == ["fields", "build", "load", "shape", "range", "determinism", "flops"]
    assert all(r.status == PASS for r in results), results
    x = demo_lr(2)
    assert tuple(x.shape) == (1, 3, 48, 60)  # the 96 x 120 HR crop at x2
    assert checks["shape"].detail == "(1, 3, 48, 60) -> (1, 3, 96, 120) torch.float32"
    assert "stand-in_x2.pth strict" in checks["load"].detail


def test_demo_crop_is_the_protocols_bicubic_of_the_astronaut():
    """Independently: skimage's astronaut, the same crop, MATLAB-bicubic by the protocol's own resize."""
    from skimage import data as skdata

    from protocol.imresize import imresize_matlab

    hr = torch.from_numpy(skdata.astronaut()[40:136, 180:300].copy()).permute(2, 0, 1).double()
    want = imresize_matlab(hr, 1 / 4).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal((demo_lr(4)[0] * 255).round().to(torch.uint8), want)


def test_a_missing_checkpoint_is_skipped_not_failed(tmp_path):
    wf = WeightFile("absent_x2.pth", "a" * 64, (2,), "", "MIT")
    checks = _by_check(validate_card(_card(weights=(wf,)), weights_dir=tmp_path))
    assert checks["load"].status == SKIP and checks["load"].detail == f"no checkpoint: {tmp_path / 'absent_x2.pth'}"
    assert checks["range"].status == SKIP  # an untrained net's range means nothing
    assert checks["shape"].status == PASS and checks["flops"].status == PASS


def test_wrong_output_size_fails_shape():
    checks = _by_check(validate_card(_card(build=lambda s: Nearest(s, "shape"))))
    assert checks["shape"].status == FAIL
    assert checks["shape"].detail == "(1, 3, 48, 60) -> (1, 3, 95, 120) torch.float32, expected (1, 3, 96, 120) float"
    assert checks["range"].status == SKIP and checks["determinism"].status == SKIP


def test_a_raising_forward_fails_shape_with_the_error():
    def build(s):
        net = Nearest(s)
        net.forward = lambda x: (_ for _ in ()).throw(RuntimeError("no can do"))
        return net

    checks = _by_check(validate_card(_card(build=build)))
    assert checks["shape"].status == FAIL and checks["shape"].detail == "forward raised RuntimeError: no can do"


def test_non_finite_output_fails_range_even_untrained():
    checks = _by_check(validate_card(_card(build=lambda s: Nearest(s, "nan"))))
    assert checks["range"].status == FAIL and "NaN/Inf" in checks["range"].detail


def test_a_wrong_input_range_fails_range(tmp_path):
    """A trained net whose output is 255 times too large (a 0-255 checkpoint carded as 0-1)."""
    wf = _checkpoint(tmp_path, {"w": torch.full((1,), 255.0)})
    checks = _by_check(validate_card(_card(weights=(wf,)), weights_dir=tmp_path))
    assert checks["load"].status == PASS
    assert checks["range"].status == FAIL and "is the input range right?" in checks["range"].detail


def test_non_determinism_fails_determinism():
    checks = _by_check(validate_card(_card(build=lambda s: Noisy(s))))
    assert checks["determinism"].status == FAIL and "two forwards of one input differ" in checks["determinism"].detail
    assert checks["shape"].status == PASS


def test_an_unclassified_op_fails_flops():
    checks = _by_check(validate_card(_card(build=lambda s: HiddenOp(s))))
    assert checks["flops"].status == FAIL
    assert checks["flops"].detail == "ops the FLOP counter cannot classify: prim::PythonOp.Hidden x1"


def test_a_checkpoint_that_does_not_fit_fails_load(tmp_path):
    wf = _checkpoint(tmp_path, {"conv.weight": torch.zeros(1)})
    checks = _by_check(validate_card(_card(weights=(wf,)), weights_dir=tmp_path))
    assert checks["load"].status == FAIL and "stand-in_x2.pth: does not fit Stand-in x2" in checks["load"].detail
    altered = dataclasses.replace(wf, sha256="0" * 64)
    checks = _by_check(validate_card(_card(weights=(altered,)), weights_dir=tmp_path))
    assert checks["load"].status == FAIL and "differs from the card's 000000000000" in checks["load"].detail


def test_a_build_that_raises_fails_build_and_skips_the_rest():
    def build(s):
        raise ValueError("bad config")

    results = validate_card(_card(build=build))
    assert _by_check(results)["build"].status == FAIL and _by_check(results)["build"].detail == "ValueError: bad config"
    assert {r.status for r in results if r.check not in ("fields", "build")} == {SKIP}


@pytest.mark.parametrize("change, phrase", [
    (dict(weights=(WeightFile("a.pth", "abc123", (2,), "", "MIT"),)), "sha256 'abc123' is not 64 lower-case hex"),
    (dict(weights=(WeightFile("a.pth", "A" * 64, (2,), "", "MIT"),)), "is not 64 lower-case hex"),
    (dict(weights=(WeightFile("a.pth", "a" * 64, (2,), "", " "),)), "weights 'a.pth': license is empty"),
    (dict(weights=(WeightFile("a.pth", "a" * 64, (2,), "", "MIT"), WeightFile("b.pth", "b" * 64, (2,), "", "MIT"))),
     "variant 'Stand-in' x2 names two checkpoints (a.pth, b.pth)"),
    (dict(weights=(WeightFile("../a.pth", "a" * 64, (2,), "", "MIT"),)), "must be a path relative to the weights"),
    (dict(published=(Published("Set6", 2, 30.0, 0.9, "paper"),)), "published Set6 x2: Y-channel numbers must be on"),
    (dict(published=(Published("Set5", 3, 30.0, 0.9, "paper"),)), "published Set5 x3: scale is not among"),
    (dict(published=(Published("Set5", 2, 30.0, 0.9, "paper", metric="rgb"),)), "metric 'rgb' is not one of"),
    (dict(published=(Published("Set5", 2, 30.0, 0.9, "paper", degradation="blur"),)), "degradation 'blur'"),
    (dict(published=(Published("Set5", 2, 0.93, 30.0, "paper"),)), "PSNR 0.93 is not a plausible dB value"),
    (dict(published=(Published("Set5", 2, 30.0, 0.9, "paper", variant="Other"),)), "variant 'Other' is not one of"),
    (dict(paper=Paper("A stand-in", "Tests", 2025, "arxiv 1234")), "paper url 'arxiv 1234' is not an http(s) URL"),
    (dict(paper=None), "paper is missing (only a baseline or an external model may have none)"),
    (dict(name="A,B"), "name 'A,B' is empty, padded or has ','"),
    (dict(scales=(2, 2)), "scales (2, 2) must be distinct positive integers"),
])
def test_a_bad_card_field_fails_fields_naming_it(change, phrase):
    results = validate_card(_card(**change), checks=("fields",))
    assert len(results) == 1 and results[0].status == FAIL and phrase in results[0].detail, results[0].detail


def test_a_variant_that_shadows_another_model_fails_fields():
    registry.names()
    wf = WeightFile("a.pth", "a" * 64, (2,), "", "MIT", variant="RLFN-ntire")
    (r,) = validate_card(_card(weights=(WeightFile("b.pth", "b" * 64, (2,), "", "MIT"), wf)), checks=("fields",))
    assert r.status == FAIL and "variant 'RLFN-ntire' resolves to the model 'RLFN-ntire'" in r.detail


# ------------------------------------------------------------------------------------ the command


def test_command_prints_the_table_and_exits_0_when_all_pass(tmp_path):
    r = CliRunner().invoke(main, ["validate", "Bicubic", "--scale", "2,4", "--weights-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split() == ["model", "scale", "fields", "build", "load", "shape", "range", "determinism", "flops"]
    assert lines[1].split() == ["Bicubic", "x2", "pass", "pass", "skipped", "pass", "pass", "pass", "pass"]
    assert lines[2].split()[:2] == ["Bicubic", "x4"]
    assert "skipped: Bicubic x2 load: no checkpoint needed" in r.output
    assert lines[-1] == "all 11 checks passed (2 skipped)"  # fields once, six per scale, two loads skipped


def test_command_exits_1_and_names_the_failed_check():
    import _faulty_models

    _faulty_models.register_all()  # another test may have unregistered them (test_faults does)
    r = CliRunner().invoke(main, ["validate", "T-shape", "T-good"])  # _faulty_models' registered stand-ins
    assert r.exit_code == 1, r.output
    rows = {ln.split()[0]: ln.split() for ln in r.output.splitlines()[1:3]}
    assert rows["T-shape"][5] == "FAIL" and rows["T-good"][5] == "pass"
    assert "FAIL: T-shape x2 shape: (1, 3, 48, 60) -> (1, 3, 95, 120)" in r.output
    assert r.output.splitlines()[-1].startswith("1 of ") and r.output.splitlines()[-1].endswith(" checks failed")


def test_command_bad_input_is_one_line():
    r = CliRunner().invoke(main, ["validate", "NoSuchNet"])
    assert r.exit_code == 1 and r.output.startswith("Error: unknown model 'NoSuchNet'")
    assert len(r.output.splitlines()) == 1
    r = CliRunner().invoke(main, ["validate", "Bicubic", "--scale", "x4"])
    assert r.exit_code == 2 and "--scale" in r.output and "x4" in r.output

