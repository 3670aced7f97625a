"""`govhub registry ...` commands."""

from __future__ import annotations

from typing import Annotated

import typer

cli = typer.Typer(name="registry", help="The natural-person and legal-entity registries.")


@cli.command("eval-matching")
def eval_matching(
    persons: Annotated[int, typer.Option(help="Registered persons generated.")] = 5000,
    queries: Annotated[int, typer.Option(help="Records with a broken ID to match.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Precision and recall of auto-links on generated data with injected typos."""
    from govhub_registry.matching.evaluation import main

    main(persons=persons, queries=queries, seed=seed)
