"""Copy the rows of one results folder into another, through the store (schema-checked keyed upserts).

    python tools/merge_results.py SRC DST [--refresh-cards]

For a maintainer who measured part of the canonical results in a separate folder (a long run beside
another job writing the canonical folder, or another machine with the same protocol and device):
every table of SRC is upserted into DST, so a row of SRC replaces the DST row with the same key and
nothing else changes. ``--refresh-cards`` then re-snapshots every registered card into DST (cards
edited since their models were measured, e.g. published numbers gaining a field).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark import schema, store  # noqa: E402


@click.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.argument("dst", type=click.Path(exists=True, file_okay=False))
@click.option("--refresh-cards", is_flag=True, help="re-snapshot every registered card into DST afterwards")
def main(src: str, dst: str, refresh_cards: bool) -> None:
    for table in schema.TABLES:
        rows = store.read(src, table)
        if rows.empty:
            continue
        store.upsert(dst, table, rows)
        click.echo(f"{table}: {len(rows)} row(s) from {src} upserted into {dst}")
    if refresh_cards:
        import registry
        from benchmark.cards import store_cards

        cards = registry.cards()
        store_cards(dst, cards, {c.name: registry.module_of(c.name) for c in cards})
        click.echo(f"cards: {len(cards)} snapshot(s) refreshed in {dst}")


if __name__ == "__main__":
    main()
