"""Print the README's model-zoo table from the registry's cards (run it after adding a model)."""

import registry


def main() -> None:
    print("| model | family | kind | scales | checkpoints (variants) | license | paper |")
    print("|---|---|---|---|---|---|---|")
    for c in registry.cards():
        if c.kind == "baseline":
            continue
        variants = ", ".join(dict.fromkeys(w.variant or c.name for w in c.weights)) or "architecture only"
        lic = "; ".join(sorted({w.license for w in c.weights})) or "-"
        scales = ", ".join(f"x{s}" for s in c.scales)
        paper = f"[{c.paper.venue} {c.paper.year}]({c.paper.url})" if c.paper else ""
        print(f"| {c.name} | {c.family} | {c.kind} | {scales} | {variants} | {lic} | {paper} |")


if __name__ == "__main__":
    main()
