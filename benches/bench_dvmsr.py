"""DVMSR x4 on the CPU: seconds per Set5 image (forward pass only, after one warm-up image), per scan.

    SRBENCH_DATA=/path/to/datasets [SRBENCH_WEIGHTS=/path/to/weights] python benches/bench_dvmsr.py \
        [--scan torch|cpp|both] [--threads 1] [--repeats 1]
    python benches/bench_dvmsr.py --vs-rlfn [--size 256x256] [--repeats 3]

LR images are made with the protocol's MATLAB bicubic (``protocol.imresize``) from the mod-cropped HR.
Without SRBENCH_WEIGHTS the network keeps its random initialisation: the time does not depend on the
weights.  ``--scan`` picks the selective scan (``SRBENCH_SCAN``): the pure-PyTorch path, the fused CPU
kernel, or both, interleaved image by image and repeat by repeat (a shared, busy machine slows both
alike), with the torch/cpp ratio.  ``--vs-rlfn`` times DVMSR (both scans) and RLFN-ntire forwards on one
random LR image of ``--size``, interleaved, and prints each one's time per MAC (MACs from
``benchmark.flops.count_flops``: one fused multiply-add = one FLOP) and DVMSR's ratio to RLFN-ntire's.
Nothing is asserted: the numbers are printed.
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


def _model(name: str, weights: str | None):
    card = registry.get(name)
    pretrained = bool(weights) and (Path(weights) / card.weight_file(4).file).is_file()
    return card.build_model(4, weights_dir=weights, pretrained=pretrained), pretrained


def _forward(model, x, scan: str | None) -> float:
    if scan:
        os.environ["SRBENCH_SCAN"] = scan
    t0 = time.perf_counter()
    model(x)
    return time.perf_counter() - t0


def vs_rlfn(args, weights: str | None) -> None:
    from benchmark.flops import count_flops

    h, w = (int(v) for v in args.size.lower().split("x"))
    dvmsr, p1 = _model("DVMSR", weights)
    rlfn, p2 = _model("RLFN-ntire", weights)
    macs = {"DVMSR": count_flops(dvmsr, (h, w)).flops, "RLFN-ntire": count_flops(rlfn, (h, w)).flops}
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    runs = {f"DVMSR ({s})": (dvmsr, s) for s in _scans(args.scan)}
    runs["RLFN-ntire"] = (rlfn, None)
    times: dict[str, list[float]] = {k: [] for k in runs}
    with torch.inference_mode():
        for m, s in runs.values():  # warm-up (and the kernel's build)
            _forward(m, x[..., :32, :32], s)
        for _ in range(args.repeats):
            for k, (m, s) in runs.items():
                times[k].append(_forward(m, x, s))
    print(f"# {h}x{w} LR, x4, {args.threads} thread(s), {args.repeats} interleaved repeats (median), "
          f"weights: {'shipped/shared' if p1 and p2 else 'random init'}; MACs from benchmark.flops")
    print(f"{'model':<16} {'GMACs':>7} {'s/forward':>10} {'ns/MAC':>7} {'vs RLFN':>8}")
    gmacs = {k: macs["RLFN-ntire" if k == "RLFN-ntire" else "DVMSR"] for k in times}
    per_mac = {k: statistics.median(ts) / gmacs[k] for k, ts in times.items()}
    for k, ts in times.items():
        print(f"{k:<16} {gmacs[k] / 1e9:>7.2f} {statistics.median(ts):>10.3f} {per_mac[k] * 1e9:>7.3f} "
              f"{per_mac[k] / per_mac['RLFN-ntire']:>7.2f}x")
    print(f"# load average {os.getloadavg()[0]:.2f} (a shared machine: compare the interleaved rows only)")


def _scans(choice: str) -> list[str]:
    return ["torch", "cpp"] if choice == "both" else [choice]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: comparable across runs)")
    ap.add_argument("--dataset", default="Set5")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--scan", default="both", choices=["torch", "cpp", "both"], help="selective scan(s) to time")
    ap.add_argument("--vs-rlfn", action="store_true", help="time per MAC against RLFN-ntire on one --size image")
    ap.add_argument("--size", default="256x256", help="LR HxW for --vs-rlfn")
    args, _ = ap.parse_known_args(argv)  # nox passes one posargs list to every bench
    torch.set_num_threads(args.threads)
    weights = os.environ.get("SRBENCH_WEIGHTS")
    if args.vs_rlfn:
        vs_rlfn(args, weights)
        return
    data = os.environ.get("SRBENCH_DATA")
    if not data or not (Path(data) / args.dataset / "HR").is_dir():
        print(f"# bench_dvmsr: skipped ({args.dataset} not found; set SRBENCH_DATA)")
        return
    scans = _scans(args.scan)
    model, pretrained = _model("DVMSR", weights)
    files = sorted((Path(data) / args.dataset / "HR").glob("*.png"))
    lrs = [(f.stem, lr_image(f, 4)) for f in files]
    print(f"# DVMSR x4, CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), float32, weights: {'DVMSR_x4.pth' if pretrained else 'random init'}, "
          f"scan(s) interleaved: {', '.join(scans)}")
    cols = " ".join(f"{'s (' + s + ')':>10}" for s in scans)
    print(f"{'image':<12} {'LR size':>9} {'tokens':>7} {cols}" + (f" {'torch/cpp':>9}" if len(scans) == 2 else ""))
    means: dict[str, list[float]] = {s: [] for s in scans}
    with torch.inference_mode():
        for s in scans:
            _forward(model, lrs[0][1][..., :48, :48], s)  # warm-up (and the kernel's build)
        for name, lr in lrs:
            ts: dict[str, list[float]] = {s: [] for s in scans}
            for _ in range(args.repeats):
                for s in scans:
                    ts[s].append(_forward(model, lr, s))
            h, w = lr.shape[2:]
            row = {s: statistics.median(v) for s, v in ts.items()}
            for s in scans:
                means[s].append(row[s])
            ratio = f" {row['torch'] / row['cpp']:>8.2f}x" if len(scans) == 2 else ""
            print(f"{name:<12} {f'{h}x{w}':>9} {h * w:>7} " + " ".join(f"{row[s]:>10.2f}" for s in scans) + ratio)
    m = {s: statistics.mean(v) for s, v in means.items()}
    ratio = f" {m['torch'] / m['cpp']:>8.2f}x" if len(scans) == 2 else ""
    print(f"{'mean':<12} {'':>9} {'':>7} " + " ".join(f"{m[s]:>10.2f}" for s in scans) + ratio)
    print(f"# load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
