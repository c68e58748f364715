"""Checks shared by the NTIRE 2025 ESR cards' tests (``tests/test_registry_ntire25_*.py``).

The facts checked against come from ``$SRBENCH_WEIGHTS/ntire2025/MANIFEST.tsv`` (written from the
organizers' repository, not by srbench) and from the checkpoint files themselves, never from the
adapter under test.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

import registry
from registry.weights import load_state_dict

SUBDIR = "ntire2025"
CHALLENGE = "NTIRE 2025 ESR"
SRC_REPO = "Amazingren/NTIRE2025_ESR"


def manifest(weights_root: Path) -> dict[str, dict[str, str]]:
    """The MANIFEST rows of the NTIRE 2025 folder, by file name."""
    with open(weights_root / SUBDIR / "MANIFEST.tsv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def check_card(name: str, team: int, weights_root: Path) -> registry.ModelCard:
    """The card's challenge entry, checkpoint path, hash, licence and source agree with MANIFEST."""
    card = registry.get(name)
    assert card.scales == (4,), f"{name}: NTIRE 2025 ESR entries are x4 only"
    ch = card.challenge
    assert ch is not None and ch.challenge == CHALLENGE and ch.year == 2025 and ch.team == team, name
    assert ch.team_name and ch.solution and ch.report, f"{name}: challenge entry incomplete"
    (wf,) = card.weights
    assert wf.file.startswith(f"{SUBDIR}/"), wf.file
    row = manifest(weights_root)[wf.file.split("/", 1)[1]]
    assert wf.sha256 == row["sha256"], f"{name}: sha256 differs from MANIFEST"
    assert "MIT" in wf.license and wf.source.startswith(SRC_REPO), name
    assert wf.url.startswith(f"https://raw.githubusercontent.com/{SRC_REPO}/"), wf.url
    return card


def checkpoint_tensors(name: str, weights_root: Path) -> dict[str, torch.Tensor]:
    """The state dict the card loads (sha-checked, weights_only)."""
    (wf,) = registry.get(name).weights
    state, _ = load_state_dict(wf, weights_root)
    return state


def check_loads_strictly(name: str, weights_root: Path) -> registry.SRModel:
    """``build_model`` loads strictly (it raises on any missing or unexpected key); the model's
    parameter count equals the number of parameter elements in the file."""
    card = registry.get(name)
    model = card.build_model(4, weights_dir=weights_root)
    state = checkpoint_tensors(name, weights_root)
    params = dict(model.net.named_parameters())
    in_file = sum(v.numel() for k, v in state.items() if k in params)
    assert sum(p.numel() for p in params.values()) == in_file, f"{name}: parameters not all from the file"
    return model
