"""Desktop-width (1440 px) screenshots of the rendered site for the docs.

    srbench site --results results --out site
    python docs/screenshots/make_screenshots.py --site site [--model IMDN]

Writes ``docs/screenshots/leaderboard.png`` (the default track: table and Pareto plots) and
``docs/screenshots/model.png`` (one model page), each kept under 300 KiB (a 256-colour palette
when true colours would be larger).
Needs Playwright for Python and a Chromium (``SRBENCH_CHROMIUM``, default ``/usr/bin/chromium``).
"""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def _save(png: bytes, path: Path, max_height: int) -> int:
    im = Image.open(io.BytesIO(png)).convert("RGB")
    if im.height > max_height:
        im = im.crop((0, 0, im.width, max_height))
    im.save(path, optimize=True)  # true colours when small enough, else a 256-colour palette
    if path.stat().st_size > 300 * 1024:
        im.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)
    return path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", default="site", help="the rendered site folder")
    ap.add_argument("--model", default="IMDN", help="the model page to capture")
    ap.add_argument("--out", default=str(HERE), help="where the PNGs go")
    ap.add_argument("--max-height", type=int, default=2000, help="crop taller pages to this many pixels")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from benchmark.site import slug

    site, out = Path(a.site).resolve(), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=os.environ.get("SRBENCH_CHROMIUM", "/usr/bin/chromium"), args=ARGS)
        page = b.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page.goto((site / "index.html").as_uri())
        page.wait_for_load_state("load")
        n = _save(page.screenshot(full_page=True), out / "leaderboard.png", a.max_height)
        print(f"{out / 'leaderboard.png'}: {n // 1024} KiB")
        page.goto((site / "models" / f"{slug(a.model)}.html").as_uri())
        page.wait_for_load_state("load")
        n = _save(page.screenshot(full_page=True), out / "model.png", a.max_height)
        print(f"{out / 'model.png'}: {n // 1024} KiB")
        b.close()


if __name__ == "__main__":
    main()
