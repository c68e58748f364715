"""Small C++ kernels compiled at first use, with a pure-PyTorch fallback wherever they cannot be.

:class:`LazyExtension` wraps ``torch.utils.cpp_extension.load_inline`` (g++ and ninja needed: the
``fast-cpu`` extra installs ninja): the first call of :meth:`LazyExtension.get` in a process compiles
the source beside the caller's module (or finds it built: ninja checks it is up to date) into
``$SRBENCH_CACHE/torch_extensions/<name>`` when ``SRBENCH_CACHE`` is set, else torch's extension folder
(``TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``). A failure for any reason (no
compiler, no ninja, a compile error) is remembered, said once with ``warnings.warn``, and every later
``get`` raises :class:`ExtensionUnavailable` at once, so the caller runs its PyTorch path instead.

Builds use ``-march=native``: each is made on, and for, the machine that runs it; the CPU's flags are
part of the extension's name, so a cache folder shared by different machines holds one build each.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import threading
import time
import warnings
from pathlib import Path

# -O3 -march=native: the kernels are loops that the compiler vectorises for this CPU;
# -fno-trapping-math changes no value, it lets GCC vectorise loops with selects.
BUILD_FLAGS = ("-O3", "-fno-trapping-math", "-march=native")


class ExtensionUnavailable(RuntimeError):
    """The kernel could not be built or imported; the message says why, in one line."""


def cpu_tag() -> str:
    """A short hash of this CPU's instruction-set flags: a -march=native build runs only on its kind."""
    flags = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            flags += next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return hashlib.sha1(flags.encode()).hexdigest()[:10]


def toolchain_present() -> bool:
    """A C++ compiler and ninja (on PATH or as the ``ninja`` package) are here: a build should then work,
    so the tests fail where it does not (CI, after the README's set-up), instead of skipping."""
    import shutil

    try:
        import ninja  # noqa: F401
    except ImportError:
        if not shutil.which("ninja"):
            return False
    return bool(shutil.which("c++") or shutil.which("g++"))


def _ninja_on_path() -> None:
    """torch runs ``ninja`` from PATH: when it is not there but the ``ninja`` package is installed (a venv
    used without activating it), put the package's binary folder first on PATH."""
    import shutil

    if shutil.which("ninja"):
        return
    try:
        import ninja
    except ImportError:
        return
    bin_dir = getattr(ninja, "BIN_DIR", "")
    if bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


class LazyExtension:
    """One C++ source file, compiled on first :meth:`get` (thread-safe), or why it could not be."""

    def __init__(self, name: str, source: Path, what: str, flags=BUILD_FLAGS):
        self.name = f"{name}_{cpu_tag()}"
        self.source, self.what, self.flags = Path(source), what, list(flags)
        self._lock = threading.Lock()
        self._module = None  # the loaded module; False once the build failed
        self.error = ""
        self.build_seconds: float | None = None  # this process's load (a build, or the up-to-date check)

    def _build_directory(self) -> str | None:
        cache = os.environ.get("SRBENCH_CACHE")
        if not cache:
            return None  # torch's default
        d = Path(cache) / "torch_extensions" / self.name
        d.mkdir(parents=True, exist_ok=True)
        return str(d)

    def _build(self):
        from torch.utils import cpp_extension

        where = self._build_directory() or cpp_extension._get_build_directory(self.name, verbose=False)
        if not (Path(where) / f"{self.name}.so").exists():  # said, since it takes a while
            print(f"srbench: compiling {self.what} for this CPU, once (about a minute; kept in {where})",
                  file=sys.stderr, flush=True)
        return cpp_extension.load_inline(name=self.name, cpp_sources=[self.source.read_text()],
                                         extra_cflags=self.flags, build_directory=self._build_directory(),
                                         no_implicit_headers=True, verbose=False)

    def get(self):
        """The compiled module; raises :class:`ExtensionUnavailable` when it cannot be had."""
        if self._module is None:
            with self._lock:
                if self._module is None:
                    t0 = time.perf_counter()
                    try:
                        _ninja_on_path()
                        self._module = self._build()
                    except Exception as e:  # a compiler error, no ninja, an import error, ...
                        first = (str(e).strip().splitlines() or [""])[0][:300]
                        self.error = f"{type(e).__name__}: {first}"
                        self._module = False
                        warnings.warn(f"srbench: {self.what} could not be built ({self.error}); using the "
                                      "pure-PyTorch path (slower). Install a C++ compiler and ninja "
                                      "(pip install 'srbench[fast-cpu]').", RuntimeWarning, stacklevel=4)
                    self.build_seconds = time.perf_counter() - t0
        if self._module is False:
            raise ExtensionUnavailable(f"{self.what} is unavailable ({self.error})")
        return self._module

    def available(self) -> bool:
        try:
            self.get()
        except ExtensionUnavailable:
            return False
        return True
