"""The GPU profile of every model (``nox -s gpu``); says so and exits 0 where there is no CUDA."""

import subprocess
import sys

import torch

if not torch.cuda.is_available():
    print("no CUDA device: GPU profile skipped")
    sys.exit(0)
sys.exit(subprocess.call(["srbench", "profile", "--models", "all", "--scale", "4", "--device", "cuda",
                          "--results", "results-gpu"]))
