"""Developer sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s bench``, ``nox -s gpu``.

Each session installs the CPU build of torch pinned as in the README, then the package.
"""

import glob

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"


def _install(session: nox.Session, extras: str = "test") -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The README test command's first stage: unit tests plus end-to-end tests on the data it finds."""
    _install(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def data(session: nox.Session) -> None:
    """The README test command's second stage: slow end-to-end checks over the four test sets."""
    _install(session)
    session.run("python", "-m", "pytest", "-m", "slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.4")
    session.run("ruff", "check", "benchmark", "registry", "tests", "benches", "noxfile.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Speed and memory benchmarks: each script in benches/ prints its own table (never asserted)."""
    _install(session)
    for script in sorted(glob.glob("benches/bench_*.py")):  # gpu_profile.py is the gpu session's
        session.log(f"--- {script}")
        session.run("python", script, *session.posargs, env={"PYTHONUNBUFFERED": "1"})


@nox.session
def gpu(session: nox.Session) -> None:
    """CUDA-only tests and the GPU profile; on a machine without CUDA the tests skip with a reason."""
    _install(session)
    session.run("python", "-m", "pytest", "-m", "gpu", "-rs", *session.posargs)
    session.run("python", "benches/gpu_profile.py")
