"""The NTIRE 2025 ESR zoo as a whole: every checkpoint file of the shared folder has its card.

The per-family tests (tests/test_registry_ntire25_<group>.py) load each file strictly and check its
forward against the organizers' code; this one checks that none of the 31 files is left out, and
that an entry srbench cannot run would be listed here with its reason (none today).
"""

from __future__ import annotations

import pytest

import registry
from tests._ntire25 import SUBDIR, manifest

# file -> why srbench cannot run it (empty: every file loads strictly and runs on the CPU)
CANNOT_RUN: dict[str, str] = {}


def _cards_by_file() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in registry.cards():
        for w in c.weights:
            if w.file.startswith(f"{SUBDIR}/"):
                out.setdefault(w.file.split("/", 1)[1], []).append(c.name)
    return out


@pytest.mark.weights
def test_every_ntire2025_checkpoint_has_exactly_one_card(weights_root):
    files = set(manifest(weights_root))
    by_file = _cards_by_file()
    assert len(files) == 31
    missing = files - set(by_file) - set(CANNOT_RUN)
    assert not missing, f"NTIRE 2025 checkpoints without a card: {sorted(missing)}"
    assert not set(by_file) - files, f"cards pointing at files the folder lacks: {sorted(set(by_file) - files)}"
    twice = {f: n for f, n in by_file.items() if len(n) > 1}
    assert not twice, f"one file, several cards: {twice}"
    assert not set(CANNOT_RUN) & set(by_file), "an entry listed as unrunnable has a card now: drop it"


def test_every_ntire2025_card_is_a_challenge_entry_of_that_year():
    cards = [c for c in registry.cards() if any(w.file.startswith(f"{SUBDIR}/") for w in c.weights)]
    assert len(cards) == 31
    for c in cards:
        assert c.challenge is not None and c.challenge.challenge == "NTIRE 2025 ESR" and c.challenge.year == 2025
        assert c.name.endswith("-ntire25") and c.scales == (4,), c.name
    teams = sorted(c.challenge.team for c in cards)
    assert len(set(teams)) == 31  # one card per team (team 51's file is team 46's: one card, said in its notes)
