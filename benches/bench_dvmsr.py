"""DVMSR x4 on the CPU: seconds per Set5 image (forward pass only, after one warm-up image).

    SRBENCH_DATA=/path/to/datasets [SRBENCH_WEIGHTS=/path/to/weights] python benches/bench_dvmsr.py

LR images are made with the protocol's MATLAB bicubic (``protocol.imresize``) from the mod-cropped HR.
Without SRBENCH_WEIGHTS the network keeps its random initialisation: the time does not depend on the
weights.  The selective scan runs on srbench's torch path (``SRBENCH_SCAN=torch``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import registry  # noqa: E402
from protocol.imresize import imresize_uint8  # noqa: E402


def lr_image(path: Path, scale: int) -> torch.Tensor:
    hr = np.array(Image.open(path).convert("RGB"))  # a writable copy
    h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
    hr = torch.from_numpy(np.ascontiguousarray(hr[:h, :w])).permute(2, 0, 1)
    return imresize_uint8(hr, 1 / scale)[None].float() / 255.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: comparable across runs)")
    ap.add_argument("--dataset", default="Set5")
    ap.add_argument("--repeats", type=int, default=1)
    args, _ = ap.parse_known_args(argv)  # nox passes one posargs list to every bench
    data = os.environ.get("SRBENCH_DATA")
    if not data or not (Path(data) / args.dataset / "HR").is_dir():
        print(f"# bench_dvmsr: skipped ({args.dataset} not found; set SRBENCH_DATA)")
        return
    torch.set_num_threads(args.threads)
    os.environ["SRBENCH_SCAN"] = "torch"
    card = registry.get("DVMSR")
    weights = os.environ.get("SRBENCH_WEIGHTS")
    pretrained = bool(weights) and (Path(weights) / card.weight_file(4).file).is_file()
    model = card.build_model(4, weights_dir=weights, pretrained=pretrained)
    files = sorted((Path(data) / args.dataset / "HR").glob("*.png"))
    lrs = [(f.stem, lr_image(f, 4)) for f in files]
    print(f"# DVMSR x4, CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), float32, weights: {'DVMSR_x4.pth' if pretrained else 'random init'}")
    print(f"{'image':<12} {'LR size':>9} {'tokens':>7} {'s/image':>8}")
    times = []
    with torch.inference_mode():
        model(lrs[0][1][..., :48, :48])  # warm-up
        for name, lr in lrs:
            ts = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                model(lr)
                ts.append(time.perf_counter() - t0)
            t = statistics.median(ts)
            times.append(t)
            h, w = lr.shape[2:]
            print(f"{name:<12} {f'{h}x{w}':>9} {h * w:>7} {t:>8.2f}")
    print(f"{'mean':<12} {'':>9} {'':>7} {statistics.mean(times):>8.2f}")


if __name__ == "__main__":
    main()
