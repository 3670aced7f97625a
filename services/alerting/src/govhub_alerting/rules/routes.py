"""Rule management: the published JSON Schema, create, update (new version), disable,
dry run and backfill."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import yaml
from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.deps import Context, Reader, Settings
from govhub_alerting.engine import backfill as backfill_service
from govhub_alerting.rules import service
from govhub_alerting.rules.model import AnyRule, rule_json_schema
from govhub_alerting.rules.schemas import BackfillRequest, BackfillResult, RuleList, RulePublic
from govhub_alerting.settings import AlertingSettings
from govhub_common.db import SessionDep
from govhub_common.problems import Problem
from govhub_common.security import Operator

router = APIRouter(prefix="/v1/rules", tags=["rules"])

_RULE_SCHEMA = {
    "type": "object",
    "description": "A rule in the rule language; its JSON Schema is GET /alerting/v1/rules/schema.",
}
_RULE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _RULE_SCHEMA},
            "application/yaml": {"schema": _RULE_SCHEMA},
        },
    }
}


def _public(stored: service.StoredRule) -> RulePublic:
    return RulePublic(
        id=stored.id,
        version=stored.version,
        enabled=stored.enabled,
        source=stored.source,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
        definition=stored.rule.model_dump(mode="json", exclude_none=True),
    )


async def _rule_body(request: Request) -> Any:
    """A rule as JSON or YAML (Content-Type application/yaml)."""
    body = await request.body()
    try:
        if "yaml" in request.headers.get("content-type", ""):
            return yaml.safe_load(body)
        import orjson

        return orjson.loads(body)
    except (yaml.YAMLError, ValueError) as exc:
        raise Problem(
            400,
            "malformed_body",
            f"the body is not valid JSON or YAML: {exc}",
            errors=[{"path": "$", "message": "not parseable"}],
        ) from None


async def _checked_rule(
    request: Request, session: AsyncSession, settings: AlertingSettings
) -> AnyRule:
    """The rule of the body, valid and naming only known topics, fields and attributes."""
    rule = service.parse_rule(await _rule_body(request))
    await service.check_rule(
        session,
        rule,
        exchange=settings.exchange_catalog(),
        contact_attributes=settings.contact_attributes,
    )
    return rule


@router.get("/schema", summary="JSON Schema of the rule language")
async def get_schema(principal: Reader) -> dict[str, Any]:
    return rule_json_schema()


@router.get("", response_model=RuleList)
async def list_rules(session: SessionDep, principal: Reader) -> RuleList:
    return RuleList(data=[_public(s) for s in await service.list_rules(session)])


@router.post("", status_code=201, response_model=RulePublic, openapi_extra=_RULE_BODY)
async def create_rule(
    request: Request, session: SessionDep, operator: Operator, settings: Settings
) -> RulePublic:
    rule = await _checked_rule(request, session, settings)
    return _public(await service.create_rule(session, rule=rule, actor=operator.agency))


@router.post("/dry-run", response_model=BackfillResult, openapi_extra=_RULE_BODY)
async def dry_run_new_rule(
    request: Request,
    session: SessionDep,
    operator: Operator,
    settings: Settings,
    ctx: Context,
    as_of: datetime | None = None,
) -> BackfillResult:
    """What a rule not yet stored (or a changed one) would raise as of a time (default now)
    over the history alerting keeps: every record it received, whatever its topic."""
    rule = await _checked_rule(request, session, settings)
    stored = service.StoredRule(rule=rule, version=0, enabled=True, source="api")
    return await backfill_service.backfill(
        session,
        stored=stored,
        as_of=as_of or ctx.clock.now(),
        dry_run=True,
        limit=100,
        batch_size=settings.alerting_sweep_batch_size,
    )


@router.get("/{rule_id}", response_model=RulePublic)
async def get_rule(rule_id: str, session: SessionDep, principal: Reader) -> RulePublic:
    return _public(await service.get_rule(session, rule_id=rule_id))


@router.get("/{rule_id}/versions")
async def get_versions(rule_id: str, session: SessionDep, principal: Reader) -> dict[str, Any]:
    await service.get_rule(session, rule_id=rule_id)
    return {"data": await service.rule_versions(session, rule_id=rule_id), "next": None}


@router.put("/{rule_id}", response_model=RulePublic, openapi_extra=_RULE_BODY)
async def update_rule(
    rule_id: str, request: Request, session: SessionDep, operator: Operator, settings: Settings
) -> RulePublic:
    rule = await _checked_rule(request, session, settings)
    return _public(
        await service.update_rule(session, rule_id=rule_id, rule=rule, actor=operator.agency)
    )


@router.post("/{rule_id}/disable", response_model=RulePublic)
async def disable_rule(rule_id: str, session: SessionDep, operator: Operator) -> RulePublic:
    return _public(
        await service.set_enabled(session, rule_id=rule_id, enabled=False, actor=operator.agency)
    )


@router.post("/{rule_id}/enable", response_model=RulePublic)
async def enable_rule(rule_id: str, session: SessionDep, operator: Operator) -> RulePublic:
    return _public(
        await service.set_enabled(session, rule_id=rule_id, enabled=True, actor=operator.agency)
    )


@router.post("/{rule_id}/backfill", response_model=BackfillResult)
async def backfill_rule(
    rule_id: str,
    body: BackfillRequest,
    session: SessionDep,
    operator: Operator,
    settings: Settings,
    ctx: Context,
) -> BackfillResult:
    """Evaluate the stored rule over the history alerting keeps: list (dry run) or raise."""
    stored = await service.get_rule(session, rule_id=rule_id)
    return await backfill_service.backfill(
        session,
        stored=stored,
        as_of=body.as_of or ctx.clock.now(),
        dry_run=body.dry_run,
        limit=body.limit,
        batch_size=settings.alerting_sweep_batch_size,
    )
