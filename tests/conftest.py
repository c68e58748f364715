"""Shared fixtures: where the shared test sets and checkpoints are.

Tests that need them use the ``data_root`` / ``weights_root`` fixtures. Without the data they are
skipped on a user's machine; CI sets ``SRBENCH_REQUIRE_DATA=1`` so that a missing folder fails the
run instead of silently skipping the end-to-end checks.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

REQUIRE = os.environ.get("SRBENCH_REQUIRE_DATA") == "1"
# A command a test runs without --results must not write into the user's own results folder.
os.environ.setdefault("SRBENCH_RESULTS", tempfile.mkdtemp(prefix="srbench-test-results-"))


def _need(env: str, what: str) -> Path:
    value = os.environ.get(env)
    if value and Path(value).is_dir():
        return Path(value)
    msg = f"{what} not available: set {env} to the folder"
    if REQUIRE:
        pytest.fail(msg + " (SRBENCH_REQUIRE_DATA=1)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def data_root() -> Path:
    return _need("SRBENCH_DATA", "shared test sets")


@pytest.fixture(scope="session")
def weights_root() -> Path:
    return _need("SRBENCH_WEIGHTS", "shared checkpoints")


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory nobody can write to, root included (chattr +i), restored afterwards."""
    import shutil
    import subprocess

    d = tmp_path / "readonly"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o500)
        yield d
        d.chmod(0o700)
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode:
        pytest.skip("cannot make a directory read-only for root here (chattr +i unsupported)")
    try:
        yield d
    finally:
        subprocess.run(["chattr", "-i", str(d)], capture_output=True)


@pytest.fixture
def one_thread():
    """One intra-op thread: on a busy machine two spinning OpenMP threads are many times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
