"""A running hub's configuration as the city format sees it, read through the public APIs
with an operator token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

PAGE = 1000


class HubError(Exception):
    """A call the hub refused: the operation and its problem."""

    def __init__(self, reply: httpx.Response) -> None:
        try:
            body = reply.json()
            detail = body.get("detail", reply.text)
            for fault in body.get("errors") or []:
                detail += f"; {fault.get('path')}: {fault.get('message')}"
        except ValueError:
            detail = reply.text
        super().__init__(
            f"{reply.request.method} {reply.request.url.path}: {reply.status_code} {detail}"
        )


def call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    reply = client.request(method, path, **kwargs)
    if reply.status_code >= 400:
        raise HubError(reply)
    return reply.json() if reply.content else None


def every_item(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = dict(params, limit=PAGE, **({"cursor": cursor} if cursor else {}))
        page = call(client, "GET", path, params=query)
        items += page["data"]
        cursor = page["next"]
        if not cursor:
            return items


@dataclass
class Current:
    """One object on the hub: its spec in the city format and what apply needs besides."""

    spec: dict[str, Any]
    active: bool = True  # an agency or client not disabled, a rule enabled, a template active
    ident: Any = None  # a subscription's id
    status: str | None = None  # a subscription's status


@dataclass
class HubState:
    me_agency: str
    objects: dict[str, dict[str, Current]] = field(default_factory=dict)  # kind -> key -> it


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def read_state(client: httpx.Client) -> HubState:
    """Everything the format describes, as the hub has it now."""
    me = call(client, "GET", "/exchange/v1/whoami")
    state = HubState(me_agency=me["agency"])
    kinds: dict[str, dict[str, Current]] = {
        name: {}
        for name in (
            "Agency", "Client", "Topic", "Subscription", "RegistryMapping", "AlertRule",
            "SmsTemplate",
        )
    }  # fmt: skip
    state.objects = kinds
    for agency in every_item(client, "/exchange/v1/agencies"):
        kinds["Agency"][agency["code"]] = Current(
            _without_nulls(
                {
                    "code": agency["code"],
                    "name": agency["name"],
                    "contact": agency["contact"] or None,
                }
            ),
            active=not agency["disabled"],
        )
        for each in every_item(client, f"/exchange/v1/agencies/{agency['code']}/clients"):
            kinds["Client"][each["client_id"]] = Current(
                {
                    "client_id": each["client_id"],
                    "agency": each["agency"],
                    "scopes": each["scopes"],
                },
                active=not each["disabled"],
            )
    for listed in every_item(client, "/exchange/v1/topics"):
        topic = call(client, "GET", f"/exchange/v1/topics/{listed['code']}")
        kinds["Topic"][topic["code"]] = Current(
            _without_nulls(
                {
                    "code": topic["code"],
                    "owner": topic["owner"],
                    "title": topic["title"],
                    "description": topic["description"],
                    "sharing_type": topic["sharing_type"],
                    "legal_basis": topic["legal_basis"],
                    "retention": topic["retention"],
                    "schema": topic["schema"],
                }
            )
        )
    # Oldest first: a later request of the same agency for the same topic is the current one.
    for sub in every_item(client, "/exchange/v1/subscriptions", role="any"):
        if sub["status"] == "revoked":
            continue
        spec: dict[str, Any] = {
            "subscriber": sub["subscriber"],
            "topic": sub["topic"],
            "purpose": sub["purpose"],
            "items": sub["items"],
        }
        if sub["status"] == "approved":
            spec["decision"] = {"approve": True}
        elif sub["status"] == "refused":
            spec["decision"] = _without_nulls({"approve": False, "reason": sub["reason"]})
        key = f"{sub['subscriber']}/{sub['topic']}"
        kinds["Subscription"][key] = Current(spec, ident=sub["id"], status=sub["status"])
    for mapping in every_item(client, "/registry/v1/mappings"):
        kinds["RegistryMapping"][mapping["topic"]] = Current(
            {"topic": mapping["topic"], **_without_nulls(mapping["definition"])}
        )
    for rule in every_item(client, "/alerting/v1/rules"):
        definition = dict(_without_nulls(rule["definition"]), enabled=rule["enabled"])
        kinds["AlertRule"][rule["id"]] = Current(definition, active=rule["enabled"])
    for template in every_item(client, "/sms/v1/templates"):
        kinds["SmsTemplate"][template["code"]] = Current(
            {
                k: template[k]
                for k in ("code", "title", "signature", "body", "category", "opt_out_allowed")
            },
            active=template["active"],
        )
    return state
