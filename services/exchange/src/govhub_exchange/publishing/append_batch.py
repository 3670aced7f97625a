"""Calling exchange.append_batch (append_batch.sql beside this file, the canonical
definition): by its parameters' names, read from that file, so a call names every value it
passes and a parameter added, renamed or retyped there cannot be passed in the wrong place."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

DEFINITION = Path(__file__).with_name("append_batch.sql")
_PARAMETER = re.compile(r"^\s+(p_[a-z_]+)\s+([a-z]+(?:\[\])?),?\s*$")


@cache
def definition() -> str:
    return DEFINITION.read_text(encoding="utf-8")


@cache
def parameters() -> tuple[tuple[str, str], ...]:
    """(name, type) of each parameter, in the definition's order."""
    text = definition()
    head = text[text.index("exchange.append_batch(") : text.index(") RETURNS")]
    return tuple(
        (match.group(1), match.group(2))
        for line in head.splitlines()
        if (match := _PARAMETER.match(line))
    )


@cache
def statement() -> str:
    """SELECT exchange.append_batch(p_topic => $1::text, ...): named notation."""
    named = (f"{name} => ${n}::{kind}" for n, (name, kind) in enumerate(parameters(), start=1))
    return "SELECT exchange.append_batch(" + ", ".join(named) + ")"


async def append_batch(raw: Any, **arguments: Any) -> int | None:
    """Run it on an asyncpg connection with every parameter given by name (without the
    `p_` prefix); returns the first seq taken, 0 when nothing was accepted, None when the
    batch must be judged again (the function's own comment says when)."""
    names = [name for name, _ in parameters()]
    given = {f"p_{key}" for key in arguments}
    if given != set(names):
        missing, unknown = sorted(set(names) - given), sorted(given - set(names))
        raise TypeError(f"append_batch: missing {missing}, unknown {unknown}")
    first: int | None = await raw.fetchval(statement(), *(arguments[n[2:]] for n in names))
    return first
