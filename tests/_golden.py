"""Golden outputs: a refactor that changes a network's numbers must fail a test.

The input is a fixed 32x32 crop of scikit-image's ``astronaut`` (shipped in its wheel, so no test
set is needed); the golden file is the model's uint8 output from a real run, saved as PNG under
``tests/golden/<variant>_x<scale>.png``. ``SRBENCH_REGEN_GOLDEN=1`` rewrites them (do it only when a
change is *meant* to move numbers, and say so in the commit).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

GOLDEN_DIR = Path(__file__).parent / "golden"


def golden_lr() -> torch.Tensor:
    """(1, 3, 32, 32) float32 RGB in [0, 1]: a detailed 32x32 patch of the astronaut photo."""
    from skimage import data

    patch = data.astronaut()[120:152, 200:232]
    return torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1)[None].float() / 255.0


@torch.inference_mode()
def sr_uint8(model: torch.nn.Module, lr: torch.Tensor) -> np.ndarray:
    torch.manual_seed(0)
    out = model(lr)
    return (out[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def check_golden(name: str, out: np.ndarray) -> None:
    """Compare ``out`` with the stored golden image; float noise may flip a rare rounding tie."""
    path = GOLDEN_DIR / f"{name}.png"
    if os.environ.get("SRBENCH_REGEN_GOLDEN") == "1" or not path.exists():
        if os.environ.get("CI") and not path.exists():
            raise AssertionError(f"{path} is missing: run the test locally with SRBENCH_REGEN_GOLDEN=1")
        GOLDEN_DIR.mkdir(exist_ok=True)
        Image.fromarray(out).save(path)
        return
    ref = np.asarray(Image.open(path))
    assert ref.shape == out.shape, f"{name}: output shape {out.shape} != golden {ref.shape}"
    diff = np.abs(ref.astype(np.int16) - out.astype(np.int16))
    assert diff.max() <= 1, f"{name}: output moved by up to {diff.max()} levels from the golden file"
    assert (diff > 0).mean() < 0.005, f"{name}: {(diff > 0).mean():.2%} of values moved from the golden file"
