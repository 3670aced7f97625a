"""Each service's events (outbox, consumers' backlog), its dead letters and the exchange's
dead webhook deliveries, with re-drive; links to the shipped Grafana dashboards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from govhub_common.forms import checked, invalid_request
from govhub_console.ops.service import PAGE_SIZE, Caller

# The services whose events an operator watches: name -> API prefix.
SERVICES: Final = {
    "exchange": "/exchange",
    "registry": "/registry",
    "alerting": "/alerting",
    "sms": "/sms",
}
WEBHOOK_DEAD_LETTERS: Final = "/exchange/v1/webhooks/dead-letters"
WEBHOOK_REDRIVE: Final = "/exchange/v1/webhooks/redrive"
# Dead letters listed per service (the API has no cursor for a queue).
DEAD_LETTER_LIMIT: Final = 200
# The dashboards the chart ships (helm/govhub/dashboards/*.json): uid -> the key of its
# name in the messages (literal keys, so the catalogs' test sees them used).
DASHBOARDS: Final = {
    "govhub-overview": "events.dashboard_overview",
    "govhub-exchange": "events.dashboard_exchange",
    "govhub-warnings": "events.dashboard_warnings",
    "govhub-sms": "events.dashboard_sms",
    "govhub-scorecards": "events.dashboard_scorecards",
}
# A re-drive form's fields: at most this many events selected at once (the API's limit).
MAX_SELECTED: Final = 5000


@dataclass(frozen=True)
class Redrive:
    service: str
    group: str
    event_ids: list[str]
    all: bool

    def body(self) -> dict[str, Any]:
        if self.all:
            return {"group": self.group, "all": True}
        return {"group": self.group, "event_ids": self.event_ids}


def grafana_links(grafana_url: str | None) -> list[tuple[str, str]]:
    if not grafana_url:
        return []
    base = grafana_url.rstrip("/")
    return [(f"{base}/d/{uid}", name) for uid, name in DASHBOARDS.items()]


async def overview(
    api: Caller, *, webhook_cursor: str | None, grafana_url: str | None
) -> dict[str, Any]:
    services = []
    for name, prefix in SERVICES.items():
        status = await api.get(f"{prefix}/v1/events/status")
        letters = await api.get(f"{prefix}/v1/events/dead-letters", limit=DEAD_LETTER_LIMIT)
        by_group: dict[str, list[dict[str, Any]]] = {}
        for letter in letters["data"]:
            by_group.setdefault(letter["group"], []).append(letter)
        services.append(
            {"name": name, "status": status, "dead_letters": by_group, "total": letters["total"]}
        )
    webhooks = await api.get(WEBHOOK_DEAD_LETTERS, cursor=webhook_cursor, limit=PAGE_SIZE)
    href = api.url("/events", webhook_cursor=webhooks["next"]) if webhooks.get("next") else None
    return {
        "services": services,
        "webhooks": webhooks["data"],
        "webhooks_next": href,
        "grafana": grafana_links(grafana_url),
    }


def redrive_form(raw: bytes) -> Redrive:
    """The re-drive form: the service and group, and the events ticked (a repeated field),
    or `all`. Faults are 400s as any malformed form's."""
    fields: dict[str, str] = {}
    ids: list[str] = []
    for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        if name == "event_id":
            ids.append(checked(value, "$.event_id", limit=200))
        elif name in ("service", "group", "all"):
            fields[name] = checked(value, f"$.{name}", limit=200)
    if fields.get("service") not in SERVICES:
        raise invalid_request("$.service", "not a service of the hub")
    if len(ids) > MAX_SELECTED:
        raise invalid_request("$.event_id", f"more than {MAX_SELECTED} events")
    return Redrive(fields["service"], fields.get("group", ""), ids, fields.get("all") == "1")


async def redrive(api: Caller, form: Redrive) -> dict[str, Any]:
    prefix = SERVICES[form.service]
    result: dict[str, Any] = await api.call(
        "POST", f"{prefix}/v1/events/dead-letters/redrive", json=form.body()
    )
    return result


async def redrive_webhooks(api: Caller, *, subscription_id: str, seq: str) -> int:
    """One dead delivery (subscription and seq), a subscription's, or all."""
    body: dict[str, Any] = {}
    if subscription_id:
        body["subscription_id"] = (
            int(subscription_id) if subscription_id.isdigit() else subscription_id
        )
    if seq:
        body["seq"] = int(seq) if seq.isdigit() else seq
    result = await api.call("POST", WEBHOOK_REDRIVE, json=body)
    return int(result["redriven"])
