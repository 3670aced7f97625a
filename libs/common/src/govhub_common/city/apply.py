"""Carry out a plan through the public APIs, kind after kind in dependency order, waiting
for the hub's events to settle where a later kind depends on an earlier one (alerting and
the registry learn new topics from the exchange's events)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from govhub_common.city.format import KINDS
from govhub_common.city.plan import Action, Plan
from govhub_common.city.state import call
from govhub_common.files import private_directory, write_private

PRUNE_REASON = "govhub apply --prune: no longer in the city's files"
REPLACE_REASON = "govhub apply: replaced by the city's files"
# Kinds whose objects the hub's consumers must have learnt before the next kinds apply.
SETTLE_AFTER = {"Topic", "RegistryMapping"}


class StepFailed(Exception):
    def __init__(self, action: Action, cause: Exception) -> None:
        super().__init__(f"{action.verb} {action.kind} {action.key}: {cause}")
        self.action = action


def execute(
    client: httpx.Client,
    plan: Plan,
    *,
    prune: bool,
    secrets_dir: Path | None,
    settle: Callable[[], None],
    report: Callable[[str], None],
) -> int:
    """Make the changes; returns how many calls changed something."""
    changes = plan.changes(prune=prune)
    by_kind = {kind.name: [a for a in changes if a.kind == kind.name] for kind in KINDS}
    done = 0
    for kind in KINDS:
        for action in (a for a in by_kind[kind.name] if a.verb != "prune"):
            try:
                done += _apply(client, action, secrets_dir, report)
            except Exception as exc:
                raise StepFailed(action, exc) from exc
        if by_kind[kind.name] and kind.name in SETTLE_AFTER:
            settle()
    for kind in reversed(KINDS):
        for action in (a for a in by_kind[kind.name] if a.verb == "prune"):
            try:
                _prune(client, action)
                done += 1
            except Exception as exc:
                raise StepFailed(action, exc) from exc
    return done


def _apply(
    client: httpx.Client, action: Action, secrets_dir: Path | None, report: Callable[[str], None]
) -> int:
    spec = action.desired or {}
    handler = {
        "Agency": _agency,
        "Topic": _topic,
        "Subscription": _subscription,
        "RegistryMapping": _mapping,
        "AlertRule": _rule,
        "SmsTemplate": _template,
    }.get(action.kind)
    if action.kind == "Client":
        return _client(client, action, spec, secrets_dir, report)
    assert handler is not None
    return handler(client, action, spec)


def _changed(action: Action, spec: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: spec[name] for name in names if name in action.fields and name in spec}


def _agency(client: httpx.Client, action: Action, spec: dict[str, Any]) -> int:
    if action.verb == "create":
        call(client, "POST", "/exchange/v1/agencies", json=spec)
        return 1
    body = _changed(action, spec, ("name", "contact"))
    if "active" in action.fields:
        body["disabled"] = False
    call(client, "PATCH", f"/exchange/v1/agencies/{action.key}", json=body)
    return 1


def _client(
    client: httpx.Client,
    action: Action,
    spec: dict[str, Any],
    secrets_dir: Path | None,
    report: Callable[[str], None],
) -> int:
    agency = spec["agency"]
    if action.verb == "create":
        assert secrets_dir is not None, "checked before any change"
        body = {k: v for k, v in spec.items() if k != "agency"}
        created = call(client, "POST", f"/exchange/v1/agencies/{agency}/clients", json=body)
        target = private_directory(secrets_dir) / f"{created['client_id']}.secret"
        write_private(target, created["client_secret"] + "\n")
        report(f"  secret of client {created['client_id']} written to {target}")
        return 1
    body = _changed(action, spec, ("scopes",))
    if "active" in action.fields:
        body["disabled"] = False
    call(client, "PATCH", f"/exchange/v1/agencies/{agency}/clients/{action.key}", json=body)
    return 1


def _topic(client: httpx.Client, action: Action, spec: dict[str, Any]) -> int:
    if action.verb == "create":
        call(client, "POST", "/exchange/v1/topics", json=spec)
        return 1
    calls = 0
    body = _changed(
        action, spec, ("title", "description", "sharing_type", "legal_basis", "retention")
    )
    if body:
        call(client, "PATCH", f"/exchange/v1/topics/{action.key}", json=body)
        calls += 1
    if "schema" in action.fields:
        call(
            client,
            "POST",
            f"/exchange/v1/topics/{action.key}/versions",
            json={"schema": spec["schema"]},
        )
        calls += 1
    return calls


def _subscription(client: httpx.Client, action: Action, spec: dict[str, Any]) -> int:
    current = action.current
    calls = 0
    decide_only = (
        current is not None and set(action.fields) == {"decision"} and current.status == "pending"
    )
    if current is not None and not decide_only:
        # Purpose or items changed, or a decision the hub cannot take back: the old
        # subscription ends and a new request carries the files' terms.
        if current.status == "approved":
            call(
                client,
                "POST",
                f"/exchange/v1/subscriptions/{current.ident}/revoke",
                json={"reason": REPLACE_REASON},
            )
        elif current.status == "pending":
            call(client, "POST", f"/exchange/v1/subscriptions/{current.ident}/decision",
                 json={"approve": False, "reason": REPLACE_REASON})  # fmt: skip
        calls += 1
    if decide_only:
        assert current is not None
        ident, status = current.ident, current.status
    else:
        body = {k: v for k, v in spec.items() if k != "decision"}
        created = call(client, "POST", "/exchange/v1/subscriptions", json=body)
        ident, status = created["id"], created["status"]
        calls += 1
    decision = spec.get("decision")
    if decision is not None and status == "pending":
        body = dict(decision)
        if not body["approve"] and not body.get("reason"):
            body["reason"] = "refused in the city's files"
        call(client, "POST", f"/exchange/v1/subscriptions/{ident}/decision", json=body)
        calls += 1
    return calls


def _mapping(client: httpx.Client, action: Action, spec: dict[str, Any]) -> int:
    if action.verb == "create":
        call(client, "POST", "/registry/v1/mappings", json=spec)
    else:
        definition = {k: v for k, v in spec.items() if k != "topic"}
        call(client, "PUT", f"/registry/v1/mappings/{action.key}", json=definition)
    return 1


def _rule(client: httpx.Client, action: Action, spec: dict[str, Any]) -> int:
    if action.verb == "create":
        call(client, "POST", "/alerting/v1/rules", json=spec)
        return 1
    calls = 0
    if set(action.fields) - {"enabled"}:
        call(client, "PUT", f"/alerting/v1/rules/{action.key}", json=spec)
        calls += 1
    current = action.current
    assert current is not None
    refreshed = call(client, "GET", f"/alerting/v1/rules/{action.key}") if calls else None
    enabled_now = refreshed["enabled"] if refreshed else current.active
    wanted = spec.get("enabled", True)
    if enabled_now != wanted:
        verb = "enable" if wanted else "disable"
        call(client, "POST", f"/alerting/v1/rules/{action.key}/{verb}")
        calls += 1
    return calls


def _template(client: httpx.Client, action: Action, spec: dict[str, Any]) -> int:
    if action.verb == "create":
        call(client, "POST", "/sms/v1/templates", json=spec)
        return 1
    body = _changed(action, spec, ("title", "signature", "body", "category", "opt_out_allowed"))
    if "active" in action.fields:
        body["active"] = True
    call(client, "PATCH", f"/sms/v1/templates/{action.key}", json=body)
    return 1


def _prune(client: httpx.Client, action: Action) -> None:
    current = action.current
    assert current is not None
    key = action.key
    if action.kind == "Agency":
        call(client, "PATCH", f"/exchange/v1/agencies/{key}", json={"disabled": True})
    elif action.kind == "Client":
        agency = current.spec["agency"]
        call(
            client,
            "PATCH",
            f"/exchange/v1/agencies/{agency}/clients/{key}",
            json={"disabled": True},
        )
    elif action.kind == "Subscription":
        if current.status == "approved":
            call(
                client,
                "POST",
                f"/exchange/v1/subscriptions/{current.ident}/revoke",
                json={"reason": PRUNE_REASON},
            )
        else:
            call(client, "POST", f"/exchange/v1/subscriptions/{current.ident}/decision",
                 json={"approve": False, "reason": PRUNE_REASON})  # fmt: skip
    elif action.kind == "RegistryMapping":
        call(client, "DELETE", f"/registry/v1/mappings/{key}")
    elif action.kind == "AlertRule":
        call(client, "POST", f"/alerting/v1/rules/{key}/disable")
    elif action.kind == "SmsTemplate":
        call(client, "PATCH", f"/sms/v1/templates/{key}", json={"active": False})
