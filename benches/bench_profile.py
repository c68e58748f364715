"""Profile a few registered models and print the efficiency table (run by ``nox -s bench``).

    python benches/bench_profile.py                       # CPU, 1 thread, fp32
    python benches/bench_profile.py --device cuda --models RLFN-ntire,E-RFDN,DVMSR
    python benches/bench_profile.py --results /tmp/bench  # also upsert profile.parquet there

Each model is measured in its own child process (so its CPU peak memory is its own); the numbers
are the same as ``srbench profile`` prints for the same options.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_MODELS = ("RLFN-ntire", "E-RFDN", "IMDN", "SPAN-ntire24", "DVMSR")


def main(argv: list[str] | None = None) -> int:
    import registry
    from benchmark.envinfo import resolve_device
    from benchmark.profile import ModelSpec, ProfileOptions, format_table, profile_models, write_profile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--size", default="256x256", help="LR input HxW")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--results", default=None, help="also write profile.parquet here")
    args = ap.parse_args(argv)

    known = {n.lower() for n in registry.names()}
    names = [n for n in args.models.split(",") if n.strip()]
    missing = [n for n in names if n.lower() not in known]
    for n in missing:
        print(f"skipped {n}: not registered", file=sys.stderr)
    h, w = (int(v) for v in args.size.lower().split("x"))
    opts = ProfileOptions(device=str(resolve_device(args.device)), threads=args.threads,
                          precision=args.precision, size=(h, w), repeats=args.repeats)
    specs = [ModelSpec(n, args.scale) for n in names if n.lower() in known]
    failed = []
    t0 = time.perf_counter()
    df = profile_models(specs, opts, on_error=lambda s, e: failed.append(f"{s.name}: {e}"))
    print(format_table(df))
    print(f"\n{len(df)} model(s) in {time.perf_counter() - t0:.0f} s")
    if args.results and len(df):
        print(f"results: {write_profile(args.results, df)}")
    for f in failed:
        print(f"error: {f.splitlines()[0]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
