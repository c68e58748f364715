"""Visual comparisons for the model pages: the same HR crop as HR, bicubic and a model's output.

The LR image is the protocol's (MATLAB bicubic of the mod-cropped HR, whole image); each model then
runs on a small LR crop around the region plus ``CONTEXT`` LR pixels of context on every side (cut
away afterwards), on the CPU with one thread, so the same checkpoint gives the same pixels. The
crop's Y PSNR is printed under each panel; it describes this crop only, not the test set.
"""

from __future__ import annotations

import io
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

CROP = 120  # HR pixels; a multiple of 2, 3 and 4 so every scale shows the same region
CONTEXT = 12  # LR pixels of context around the crop
# The image every model page shows: the first of these that the data root holds.
IMAGE_PREFERENCE = (("Urban100", "img_092"), ("Set14", "barbara"), ("Set5", "butterfly"))


@dataclass
class Source:
    dataset: str
    image: str
    hr: np.ndarray  # full mod-cropped HR for the scale is cut on demand
    gray: bool
    origin: tuple[int, int]  # HR (y, x) of the crop, a multiple of 12


@dataclass
class Panel:
    png: bytes
    psnr: float | None


@contextmanager
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def find_source(data_root=None) -> tuple[Source | None, str]:
    """The visual's HR image and crop origin, or (None, why not)."""
    from benchmark import data as data_mod

    for ds_name, stem in IMAGE_PREFERENCE:
        try:
            ds = data_mod.load(ds_name, data_root)
        except data_mod.DataError:
            continue
        ref = next((r for r in ds.images if r.name == stem), None)
        if ref is None:
            continue
        img = data_mod.read_hr(ref, min_size=CROP)
        return Source(ds.name, stem, img.pixels, img.gray, _busiest_window(img.pixels)), ""
    wanted = ", ".join(f"{d}/{i}" for d, i in IMAGE_PREFERENCE)
    return None, f"none of the test images it uses ({wanted}) was available when the site was rendered"


def _busiest_window(hr: np.ndarray) -> tuple[int, int]:
    """HR (y, x) on a 12-px grid of the CROP x CROP window with the most gradient energy at a quarter
    of the resolution: structure that survives x4 downsampling (which a model can restore), not fine
    texture that the LR can only alias."""
    h4, w4 = hr.shape[0] // 4 * 4, hr.shape[1] // 4 * 4
    small = hr[:h4, :w4].astype(np.float64).mean(axis=2).reshape(h4 // 4, 4, w4 // 4, 4).mean(axis=(1, 3))
    g = np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)
    e = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1, :]
    ii = np.pad(e, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    best, arg = -1.0, (0, 0)
    H, W = e.shape
    margin = 24  # away from the image border (the mod-crop and the context need room)
    for y in range(margin, max(margin + 1, H - CROP - margin), 12):
        for x in range(margin, max(margin + 1, W - CROP - margin), 12):
            if y + CROP > H or x + CROP > W:
                continue
            s = ii[y + CROP, x + CROP] - ii[y, x + CROP] - ii[y + CROP, x] + ii[y, x]
            if s > best:
                best, arg = s, (y, x)
    return arg


def png_bytes(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=False, compress_level=9)
    return buf.getvalue()


class Visuals:
    """Makes the panels of one source image, caching the LR of each scale."""

    def __init__(self, source: Source):
        self.src = source
        self._lr: dict[int, np.ndarray] = {}

    def _lr_for(self, scale: int) -> np.ndarray:
        if scale not in self._lr:
            from benchmark.degrade import bicubic_lr, mod_crop

            self._lr[scale] = bicubic_lr(mod_crop(self.src.hr, scale), scale)
        return self._lr[scale]

    def hr_crop(self) -> np.ndarray:
        y, x = self.src.origin
        return np.ascontiguousarray(self.src.hr[y:y + CROP, x:x + CROP])

    def hr_panel(self) -> Panel:
        return Panel(png_bytes(self.hr_crop()), None)

    def run(self, model: torch.nn.Module, scale: int) -> Panel:
        """The model's output over the crop region (run on the LR crop plus context)."""
        from benchmark.infer import super_resolve
        from benchmark.metrics import psnr_ssim_y

        lr = self._lr_for(scale)
        y, x = self.src.origin
        ly, lx, n = y // scale, x // scale, CROP // scale
        y0, x0 = max(0, ly - CONTEXT), max(0, lx - CONTEXT)
        y1, x1 = min(lr.shape[0], ly + n + CONTEXT), min(lr.shape[1], lx + n + CONTEXT)
        patch = np.ascontiguousarray(lr[y0:y1, x0:x1])
        with _one_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = super_resolve(model.eval(), patch, scale, torch.device("cpu"))
        sr = res.sr[0].permute(1, 2, 0).numpy()
        oy, ox = (ly - y0) * scale, (lx - x0) * scale
        crop = np.ascontiguousarray(sr[oy:oy + CROP, ox:ox + CROP])
        hr = self.hr_crop()
        t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
        score = psnr_ssim_y(t(crop), t(hr), border=0, gray=self.src.gray, convention="rgb")[0]
        return Panel(png_bytes(crop), score.psnr)
