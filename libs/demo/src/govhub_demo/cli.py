"""`govhub demo`: seed a city and replay a year through the hub's HTTP APIs."""

from __future__ import annotations

from typing import Annotated

import typer


def command(
    scale: Annotated[
        float, typer.Option(help="Fraction of the city (1.0 = 34,000 enterprises a year).")
    ] = 0.05,
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 365,
    seed: Annotated[int, typer.Option(help="Same seed, same city, same report.")] = 2008,
) -> None:
    """Seed a city and replay a year through the hub's HTTP APIs."""
    from govhub_demo.city import simulate

    city = simulate(seed=seed, scale=scale, days=days)
    typer.echo(f"simulated {city.records()} records over {days} days")
