"""Alerting's rules for an operator: the list, a rule with its definition and versions,
enabling and disabling it, a dry run of its stored definition and a backfill."""

from __future__ import annotations

from typing import Any, Final

import orjson

from govhub_console.ops.service import PAGE_SIZE, Caller, segment

RULES: Final = "/alerting/v1/rules"
# Would-be warnings listed by a dry run or a backfill's preview.
PREVIEW_LIMIT: Final = 20


def rule_text(definition: dict[str, Any]) -> str:
    """A definition as JSON text (YAML's subset, as the rule files are)."""
    return orjson.dumps(definition, option=orjson.OPT_INDENT_2).decode()


async def rule_list(api: Caller, *, cursor: str | None) -> dict[str, Any]:
    page = await api.get(RULES, cursor=cursor, limit=PAGE_SIZE)
    return {
        "rules": page["data"],
        "next_href": api.url("/rules", cursor=page["next"]) if page.get("next") else None,
    }


async def rule_page(
    api: Caller, *, rule_id: str, cursor: str | None, result: dict[str, Any] | None = None
) -> dict[str, Any]:
    rule = await api.get(f"{RULES}/{segment(rule_id)}")
    versions = await api.get(f"{RULES}/{segment(rule_id)}/versions", cursor=cursor, limit=PAGE_SIZE)
    href = api.url(f"/rules/{rule_id}", cursor=versions["next"]) if versions.get("next") else None
    return {
        "rule": rule,
        "text": rule_text(rule["definition"]),
        "versions": [{**v, "text": rule_text(v["definition"])} for v in versions["data"]],
        "next_href": href,
        "result": result,
    }


async def switch(api: Caller, *, rule_id: str, enable: bool) -> None:
    await api.call("POST", f"{RULES}/{segment(rule_id)}/{'enable' if enable else 'disable'}")


async def dry_run(api: Caller, *, rule_id: str) -> dict[str, Any]:
    """What the stored definition would raise as of now (nothing is raised)."""
    rule = await api.get(f"{RULES}/{segment(rule_id)}")
    result: dict[str, Any] = await api.call("POST", f"{RULES}/dry-run", json=rule["definition"])
    return result


async def backfill(api: Caller, *, rule_id: str, apply: bool) -> dict[str, Any]:
    """The backfill's preview (a dry run), or the backfill itself."""
    body = {"dry_run": not apply, "limit": PREVIEW_LIMIT}
    result: dict[str, Any] = await api.call(
        "POST", f"{RULES}/{segment(rule_id)}/backfill", json=body
    )
    return result
