"""The evaluation worker: per-image work shared across models, and scoring beside the forward pass."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import registry
from benchmark import data as data_mod
from benchmark import worker
from benchmark.degrade import mod_crop
from benchmark.plan import WorkItem
from benchmark.timing import STAGE_SECONDS
from protocol.imresize import imresize_uint8
from protocol.metrics import psnr_ssim_y
from registry.base import ModelCard

THREADS: list[str] = []  # the threads the recording model's forward passes ran in


class _Recording(torch.nn.Module):
    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        THREADS.append(threading.current_thread().name)
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


@pytest.fixture
def recording():
    names = ("W-nearest-a", "W-nearest-b")
    registry.names()  # the real registry first
    for n in names:
        registry.register(ModelCard(name=n, family="test", kind="other", paper=None, scales=(2,),
                                    build=_Recording, weights=()))
    THREADS.clear()
    yield names
    for n in names:
        registry._CARDS.pop(n.lower(), None)


def _task(name: str, tmp_path, overlap: bool) -> worker.EvalTask:
    demo = data_mod.load("Demo")
    item = WorkItem(name, name, "Demo", "bicubic", 2, "rgb")
    return worker.EvalTask(item, demo.images[:3], str(tmp_path / "w"), str(tmp_path / "lr"), "cpu",
                           overlap=overlap)


def _rows(task) -> list[dict]:
    return [ev for ev in worker.run_eval_task(task) if ev["event"] == "row"]


def _independent(ref) -> tuple[float, float]:
    """Nearest-neighbour x2 of the protocol's bicubic LR, scored by the direct metric (no cache)."""
    hr = mod_crop(data_mod.read_hr(ref, 2).pixels, 2)
    lr = imresize_uint8(torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1), 0.5)
    sr = lr.repeat_interleave(2, 1).repeat_interleave(2, 2)
    s = psnr_ssim_y(sr, torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1), border=2)[0]
    return s.psnr, s.ssim


def test_overlapped_scoring_gives_the_same_rows_in_order(recording, tmp_path):
    worker._CACHE.clear()
    a, b = recording
    plain = _rows(_task(a, tmp_path, overlap=False))
    assert set(THREADS) == {threading.current_thread().name}
    THREADS.clear()
    overlapped = _rows(_task(b, tmp_path, overlap=True))
    assert set(THREADS) == {"srbench-forward"}  # the forward passes ran beside the scoring
    names = [r.name for r in data_mod.load("Demo").images[:3]]
    assert [r["image"] for r in plain] == [r["image"] for r in overlapped] == names
    for p, o, ref in zip(plain, overlapped, data_mod.load("Demo").images[:3], strict=True):
        assert p["status"] == o["status"] == "ok"
        assert (p["psnr"], p["ssim"]) == (o["psnr"], o["ssim"])
        want = _independent(ref)
        assert p["psnr"] == pytest.approx(want[0], abs=1e-9) and p["ssim"] == pytest.approx(want[1], abs=1e-10)


def test_the_hr_side_is_computed_once_per_image_across_models(recording, tmp_path):
    worker._CACHE.clear()
    a, b = recording
    STAGE_SECONDS.clear()
    _rows(_task(a, tmp_path, overlap=True))
    first = STAGE_SECONDS["HR reference (once per image)"]
    hits = STAGE_SECONDS["decoded-image cache hits"]
    assert first > 0 and hits == 0
    _rows(_task(b, tmp_path, overlap=True))
    assert STAGE_SECONDS["HR reference (once per image)"] == first  # not one more reference computed
    assert STAGE_SECONDS["decoded-image cache hits"] == 3


def test_the_memory_cache_keeps_to_its_budget_least_recently_used_out():
    c = worker._MemoryCache(budget_mb=3 / 2**20)  # 3 bytes
    c.put(("a",), "A", 1)
    c.put(("b",), "B", 1)
    c.put(("c",), "C", 1)
    assert c.get(("a",)) == "A"  # now the most recently used
    c.put(("d",), "D", 1)
    assert c.get(("b",)) is None and [c.get((k,)) for k in "acd"] == ["A", "C", "D"]
    c.put(("big",), "X", 4)  # larger than the whole budget: not kept, nothing evicted for it
    assert c.get(("big",)) is None and c.used == 3
    c.put(("g",), "G", 2, device="cuda:0")
    assert c.used <= 3 and c.device_bytes["cuda:0"] == 2
    c.clear()
    assert c.used == 0 and not c.device_bytes
