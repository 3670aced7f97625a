"""`govhub apply` from start to end on an open client: read the hub, print the difference,
apply it. The command line and the demo (which applies its city to the hub it drives) both
run it."""

from __future__ import annotations

from pathlib import Path

import httpx
from rich.console import Console

from govhub_common.city.apply import StepFailed, execute
from govhub_common.city.format import Document
from govhub_common.city.plan import make_plan
from govhub_common.city.state import HubError, read_state

# Exit codes of `govhub apply`.
DONE, FAILED, INVALID = 0, 1, 2


def apply_documents(
    client: httpx.Client,
    documents: list[Document],
    *,
    me_client: str | None,
    prune: bool = False,
    dry_run: bool = False,
    secrets_dir: Path | None = None,
    settle_timeout: float = 120.0,
    out: Console,
    err: Console,
) -> int:
    """Make the hub behind `client` what `documents` describe; returns the exit code."""
    from govhub_common.events_cli import wait_until_settled

    try:
        state = read_state(client)
    except HubError as exc:
        err.print(f"govhub apply: reading the hub failed: {exc}", markup=False)
        return FAILED
    plan = make_plan(documents, state, me_client=me_client)
    for action in plan.actions:
        if action.verb in ("create", "update", "prune", "kept"):
            note = "" if action.verb != "prune" or prune else "  [prune candidate: --prune]"
            out.print(action.describe() + note, markup=False)
    out.print(
        f"{plan.count('create')} to create, {plan.count('update')} to update, "
        f"{plan.count('unchanged')} unchanged, {plan.count('prune')} prune candidates"
        + ("" if prune or not plan.count("prune") else " (not pruned without --prune)")
    )
    if plan.problems:
        for problem in plan.problems:
            err.print(problem, markup=False)
        return INVALID
    creates_clients = any(
        a.kind == "Client" and a.verb == "create" for a in plan.changes(prune=prune)
    )
    if creates_clients and secrets_dir is None and not dry_run:
        err.print(
            "[red]new clients need --secrets-dir DIR: each secret is written there once "
            "(DIR/<client_id>.secret, mode 0600) and shown nowhere else[/]"
        )
        return INVALID
    if dry_run or not plan.changes(prune=prune):
        out.print("dry run: nothing changed" if dry_run else "no changes")
        return DONE

    def settle() -> None:
        busy = wait_until_settled(client, settle_timeout)
        if busy is not None:
            raise RuntimeError(f"the hub's events did not settle: {busy}")

    try:
        calls = execute(
            client,
            plan,
            prune=prune,
            secrets_dir=secrets_dir,
            settle=settle,
            report=lambda line: out.print(line, markup=False),
        )
    except StepFailed as exc:
        err.print(f"govhub apply failed at: {exc}", markup=False)
        return FAILED
    out.print(f"applied: {calls} changes")
    return DONE
