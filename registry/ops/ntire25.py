"""The card facts that every NTIRE 2025 ESR entry of srbench shares (``registry/ntire25_*.py``), stated once.

Where they come from:

* the checkpoints and the organizers' code: the repository ``Amazingren/NTIRE2025_ESR`` at commit
  ``b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4`` (its ``model_zoo/`` holds every team's file, byte-identical
  to srbench's ``$SRBENCH_WEIGHTS/ntire2025/<file>``, whose ``MANIFEST.tsv`` lists their sha256), under the
  repository's MIT licence (Copyright 2025 BinRen);
* the challenge: "NTIRE 2025 ESR", described by the organizers' report (arXiv 2504.10686, CVPR 2025
  Workshops), which the entries without a paper of their own cite.

The team names and final ranks are in the report's tables, which could not be read when these cards were
written (only its first page was reachable), so :func:`entry` gives one placeholder naming the team by its
number unless a card passes a name that has a source.
"""

from __future__ import annotations

from registry.base import ChallengeEntry, Paper, WeightFile

__all__ = ["SRC_REPO", "SRC_COMMIT", "LICENSE", "REPORT_URL", "REPORT", "CHALLENGE", "weight_file", "entry"]

SRC_REPO = "Amazingren/NTIRE2025_ESR"
SRC_COMMIT = "b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4"
LICENSE = "MIT (Copyright 2025 BinRen; NTIRE2025_ESR repository)"
REPORT_URL = "https://arxiv.org/abs/2504.10686"
REPORT = Paper(title="The Tenth NTIRE 2025 Efficient Super-Resolution Challenge Report", venue="CVPR 2025 Workshops",
               year=2025, url=REPORT_URL)
CHALLENGE = "NTIRE 2025 ESR"


def weight_file(file: str, sha256: str, *, state_key: str | None = None, input_range: float = 1.0,
                notes: str = "") -> WeightFile:
    """The x4 checkpoint ``ntire2025/<file>``, the organizers' ``model_zoo/<file>`` at :data:`SRC_COMMIT`."""
    return WeightFile(
        file=f"ntire2025/{file}",
        sha256=sha256,
        scales=(4,),
        url=f"https://raw.githubusercontent.com/{SRC_REPO}/{SRC_COMMIT}/model_zoo/{file}",
        license=LICENSE,
        input_range=input_range,
        state_key=state_key,
        source=f"{SRC_REPO}@{SRC_COMMIT}:model_zoo/{file}",
        notes=notes,
    )


def entry(team: int, solution: str, *, team_name: str | None = None, rank: int | None = None) -> ChallengeEntry:
    """The card's NTIRE 2025 ESR entry; ``team`` is the number in the organizers' ``models/teamNN_*.py``.

    ``team_name=None`` (no name with a source) gives the placeholder ``"team N (name not verified ...)"``.
    """
    if team_name is None:
        team_name = f"team {team} (name not verified against the challenge report)"
    return ChallengeEntry(challenge=CHALLENGE, year=2025, team=team, team_name=team_name, solution=solution,
                          report=REPORT_URL, rank=rank)
