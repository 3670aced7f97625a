"""/console/rules: alerting's rules; a rule's page with its definition and versions,
enable/disable, a dry run, and a backfill behind a confirmation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.responses import RedirectResponse, Response

from govhub_console.ops.service import ApiProblem, CheckedOps, Ops
from govhub_console.rules import service

router = APIRouter(prefix="/rules", include_in_schema=False)

RuleId = Annotated[str, Path(max_length=64)]


@router.get("")
async def rules(api: Ops, cursor: str | None = None) -> Response:
    return await api.show("rules/list.html", service.rule_list(api, cursor=cursor))


@router.get("/{rule_id}")
async def rule(api: Ops, rule_id: RuleId, cursor: str | None = None) -> Response:
    return await api.show("rules/rule.html", service.rule_page(api, rule_id=rule_id, cursor=cursor))


@router.post("/{rule_id}/dry-run")
async def dry_run(api: CheckedOps, rule_id: RuleId) -> Response:
    async def shown() -> dict[str, object]:
        result = await service.dry_run(api, rule_id=rule_id)
        return await service.rule_page(api, rule_id=rule_id, cursor=None, result=result)

    return await api.show("rules/rule.html", shown())


@router.get("/{rule_id}/backfill")
async def backfill_preview(api: Ops, rule_id: RuleId) -> Response:
    """The confirmation: what the backfill would raise, and the button that does it."""

    async def shown() -> dict[str, object]:
        preview = await service.backfill(api, rule_id=rule_id, apply=False)
        return {"rule_id": rule_id, "result": preview}

    return await api.show("rules/backfill.html", shown())


@router.post("/{rule_id}/backfill")
async def backfill(api: CheckedOps, rule_id: RuleId) -> Response:
    async def shown() -> dict[str, object]:
        done = await service.backfill(api, rule_id=rule_id, apply=True)
        return {"rule_id": rule_id, "result": done}

    return await api.show("rules/backfill.html", shown())


# Last: "/{rule_id}/{action}" would take the paths above too.
@router.post("/{rule_id}/{action}")
async def switch(
    api: CheckedOps, rule_id: RuleId, action: Literal["enable", "disable"]
) -> Response:
    try:
        await service.switch(api, rule_id=rule_id, enable=action == "enable")
    except ApiProblem as problem:
        return api.problem_page(problem)
    return RedirectResponse(api.url(f"/rules/{rule_id}"), status_code=303)
