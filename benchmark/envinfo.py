"""The environment a number was measured in, recorded with every result."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

import benchmark
from protocol import PROTOCOL_VERSION


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The srbench checkout's commit (``-dirty`` when it has local changes), or 'unknown'."""
    here = Path(benchmark.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {cpu_model()}"


def resolve_device(spec: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without CUDA is an error."""
    spec = spec.lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: CUDA is not available on this machine")
    if spec not in ("cpu",) and not spec.startswith("cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, not {spec!r}")
    return torch.device(spec)


def environment(device: torch.device) -> dict[str, str]:
    import numpy
    import PIL

    env = {
        "srbench_version": benchmark.__version__,
        "protocol": PROTOCOL_VERSION,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "pillow_version": PIL.__version__,
        "device": device_name(device),
        "device_type": device.type,
        "cpu": cpu_model(),
        "threads": str(torch.get_num_threads()),
        "cuda": torch.version.cuda or "",
        "cudnn": str(torch.backends.cudnn.version() or "") if device.type == "cuda" else "",
    }
    env.update(_efficiency_fields(device))
    return env


def _package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


@lru_cache(maxsize=4)
def gpu_driver(index: int = 0) -> str:
    """The NVIDIA driver version (nvidia-smi), or '' when it cannot be read."""
    try:
        out = subprocess.run(["nvidia-smi", f"--id={index}", "--query-gpu=driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _efficiency_fields(device: torch.device) -> dict[str, str]:
    """What moves a runtime or a FLOP count: driver, CPU, thread pools, counting packages."""
    import os

    cuda = device.type == "cuda"
    idx = (device.index if device.index is not None else torch.cuda.current_device()) if cuda else 0
    return {
        "driver": gpu_driver(idx) if cuda else "",
        "gpu_memory_mib": str(torch.cuda.get_device_properties(idx).total_memory // 2**20) if cuda else "",
        "cpu_count": str(os.cpu_count() or ""),
        "interop_threads": str(torch.get_num_interop_threads()),
        "platform": platform.platform(),
        "fvcore_version": _package_version("fvcore"),
        "ptflops_version": _package_version("ptflops"),
        "mamba_ssm_version": _package_version("mamba_ssm") or _package_version("mamba-ssm"),
        "cudnn_benchmark": str(bool(torch.backends.cudnn.benchmark)) if cuda else "",
        "tf32_matmul": str(bool(torch.backends.cuda.matmul.allow_tf32)) if cuda else "",
    }
