"""An installed package that brings its models through the ``srbench.models`` entry point (issue 15).

The slow test builds a toy package in a temporary folder, installs it into a fresh virtual environment
(which sees this interpreter's packages, srbench included, but installs the toy only there), and runs
``srbench list`` and ``srbench run`` in that environment, as a user who ``pip install``-ed a model
package would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

TOY = '''
"""A toy srbench model package: nearest-neighbour x4 times a gain, with its checkpoint inside."""
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import registry


class ToyNet(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode="nearest") * self.gain


registry.register_model("ToyNet", ToyNet, scales=(4,), checkpoints={4: str(Path(__file__).parent / "toy_x4.pth")},
                        kind="cnn", license="MIT", notes="from the srbench-toy-models package")
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "srbench-toy-models"
version = "0.1.0"

[project.entry-points."srbench.models"]
toy = "toy_srmodels"

[tool.setuptools]
packages = ["toy_srmodels"]

[tool.setuptools.package-data]
toy_srmodels = ["*.pth"]
'''


@pytest.mark.slow
def test_an_installed_package_registers_its_models_through_the_entry_point(tmp_path, data_root):
    import torch

    pkg = tmp_path / "toy"
    (pkg / "toy_srmodels").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (pkg / "toy_srmodels" / "__init__.py").write_text(TOY)
    torch.save({"gain": torch.ones(1)}, pkg / "toy_srmodels" / "toy_x4.pth")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("SRBENCH_PLUGINS", None)
    # This interpreter's pip and setuptools build it (no network: --no-index), into the venv only.
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", site, str(pkg)], capture_output=True, text=True, env=env)
    assert inst.returncode == 0, inst.stderr

    listing = subprocess.run([py, "-m", "benchmark.cli", "list"], capture_output=True, text=True, env=env)
    assert listing.returncode == 0, listing.stderr
    assert "ToyNet [ext]" in listing.stdout and "toy_srmodels" in listing.stdout
    # ... and only in that environment: this interpreter has no such entry point
    here = subprocess.run([sys.executable, "-m", "benchmark.cli", "list"], capture_output=True, text=True, env=env)
    assert "ToyNet" not in here.stdout

    res = tmp_path / "res"
    run = subprocess.run([py, "-m", "benchmark.cli", "run", "--models", "ToyNet", "--datasets", "Set5", "--scale", "4",
                          "--results", str(res), "--quiet", "--timeout", "600", "--data-root", str(data_root)],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    row = pd.read_parquet(res / "summary.parquet").iloc[0]
    assert (row["model"], row["origin"], row["status"], int(row["n_images"])) == ("ToyNet", "plugin", "ok", 5)
    assert row["psnr"] > 20  # a real upsampler's Set5 score (nearest x4 is ~26 dB), not an error row
