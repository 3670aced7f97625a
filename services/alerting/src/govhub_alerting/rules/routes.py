"""Rule management: the published JSON Schema, create, update (new version), disable,
dry run and backfill."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import yaml
from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.deps import Context, Reader, Settings
from govhub_alerting.engine import backfill as backfill_service
from govhub_alerting.fields import Moment, RuleIdPath
from govhub_alerting.rules import service
from govhub_alerting.rules.language import AnyRule, rule_json_schema
from govhub_alerting.rules.schemas import (
    RULE_EXAMPLE,
    RULE_YAML_EXAMPLE,
    BackfillRequest,
    BackfillResult,
    RuleLanguageSchema,
    RulePublic,
    RuleVersion,
)
from govhub_alerting.settings import AlertingSettings
from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.problems import Problem
from govhub_common.security import Operator

router = APIRouter(prefix="/v1/rules", tags=["rules"])

_KINDS = {
    "absence": "#/components/schemas/AbsenceRule",
    "contradiction": "#/components/schemas/ContradictionRule",
    "duplicate": "#/components/schemas/DuplicateRule",
}
# The body a generated client sends is the JSON one (the rule as a typed object); YAML, as
# the rule files are written, is the same rule as text.
_RULE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A rule in the rule language, as JSON or as YAML (its JSON Schema is "
        "also served by `getRuleSchema`).",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [{"$ref": ref} for ref in _KINDS.values()],
                    "discriminator": {"propertyName": "kind", "mapping": dict(_KINDS)},
                },
                "example": RULE_EXAMPLE,
            },
            "application/yaml": {
                # Bytes of a UTF-8 text: a generator maps this body to a file or bytes
                # (openapi-python-client: content_type_overrides application/yaml:
                # application/octet-stream).
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "The same rule as a YAML document (UTF-8), as rule files "
                    "are written.",
                },
                "example": RULE_YAML_EXAMPLE,
            },
        },
    }
}
_BODY_PROBLEMS = (
    ProblemCode.MALFORMED_BODY,
    ProblemCode.UNSUPPORTED_MEDIA_TYPE,
    ProblemCode.INVALID_RULE,
    ProblemCode.UNKNOWN_REFERENCE,
)
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def _public(stored: service.StoredRule) -> RulePublic:
    return RulePublic(
        id=stored.id,
        version=stored.version,
        enabled=stored.enabled,
        source=stored.source,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by or "",
        definition=stored.rule,
    )


async def _rule_body(request: Request) -> Any:
    """A rule as JSON (the default) or YAML (Content-Type application/yaml)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    as_yaml = media in _YAML_TYPES
    if not (as_yaml or media in ("", "application/json") or media.endswith("+json")):
        raise Problem(
            ProblemCode.UNSUPPORTED_MEDIA_TYPE,
            f"a rule is sent as application/json or application/yaml, not {media}",
        )
    body = await request.body()
    try:
        if not as_yaml:
            return orjson.loads(body)
        # A rule needs no anchors; aliases could make a small body a huge (or endless) rule.
        if any(isinstance(token, yaml.AliasToken) for token in yaml.scan(body, yaml.SafeLoader)):
            raise ValueError("YAML aliases (*name) are not taken in a rule")
        return yaml.safe_load(body)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise Problem(
            ProblemCode.MALFORMED_BODY,
            f"the body is not valid {'YAML' if as_yaml else 'JSON'}: {exc}",
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
        contact_attributes=settings.contact_attributes,
    )
    return rule


@router.get(
    "/schema", response_model=RuleLanguageSchema, summary="JSON Schema of the rule language"
)
async def get_rule_schema(principal: Reader) -> RuleLanguageSchema:
    """The JSON Schema (2020-12) every rule is checked against: an absence, contradiction or
    duplicate rule, told apart by `kind`. Editors and rule authors validate rule files with
    it before sending them."""
    return RuleLanguageSchema.model_validate(rule_json_schema())


@router.get(
    "",
    response_model=Page[RulePublic],
    summary="List rules",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_rules(
    session: SessionDep, principal: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[RulePublic]:
    """Every rule, enabled or not, with its current version, in the order of their ids.
    Warnings are raised under the version current when they were raised."""
    after = decode_cursor(cursor, str)
    rows = await service.rules_after(session, after=after[0] if after else None, limit=limit + 1)
    return page(rows, limit, key=lambda stored: (stored.id,), item=_public)


@router.post(
    "",
    status_code=201,
    response_model=RulePublic,
    summary="Create a rule",
    responses=problem_responses(*_BODY_PROBLEMS, ProblemCode.RULE_EXISTS),
    openapi_extra=_RULE_BODY,
)
async def create_rule(
    request: Request, session: SessionDep, operator: Operator, settings: Settings
) -> RulePublic:
    """Store a new rule as its version 1, sent as JSON or YAML. It is checked against the
    rule language (`invalid_rule`, with the JSON path of each fault) and against the topics,
    fields and registry attributes the hub knows (`unknown_reference`). From now on it
    judges new records, and records received before are judged against it too."""
    rule = await _checked_rule(request, session, settings)
    return _public(await service.create_rule(session, rule=rule, actor=operator.actor))


@router.post(
    "/dry-run",
    response_model=BackfillResult,
    summary="Dry-run a rule not stored",
    responses=problem_responses(*_BODY_PROBLEMS, ProblemCode.VALIDATION_FAILED),
    openapi_extra=_RULE_BODY,
)
async def dry_run_rule(
    request: Request,
    session: SessionDep,
    operator: Operator,
    settings: Settings,
    ctx: Context,
    as_of: Annotated[
        Moment | None, Query(description="Evaluate as of this time (default now).")
    ] = None,
) -> BackfillResult:
    """What a rule not yet stored (or a changed one) would raise as of a time (default now)
    over the history alerting keeps: every record it received, whatever its topic. Nothing
    is raised, set or emitted; up to 100 would-be warnings are listed."""
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


@router.get("/{rule_id}", response_model=RulePublic, summary="Get a rule")
async def get_rule(rule_id: RuleIdPath, session: SessionDep, principal: Reader) -> RulePublic:
    """The rule with its current version and definition."""
    return _public(await service.get_rule(session, rule_id=rule_id))


@router.get(
    "/{rule_id}/versions",
    response_model=Page[RuleVersion],
    summary="List a rule's versions",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_rule_versions(
    rule_id: RuleIdPath,
    session: SessionDep,
    principal: Reader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[RuleVersion]:
    """Every version of the rule, oldest first, each with its definition, where it came
    from (a rule file or the API) and who stored it."""
    await service.get_rule(session, rule_id=rule_id)
    after = decode_cursor(cursor, int)
    rows = await service.rule_versions(
        session, rule_id=rule_id, after=after[0] if after else None, limit=limit + 1
    )
    return page(rows, limit, key=lambda row: (row["version"],), item=RuleVersion.model_validate)


@router.put(
    "/{rule_id}",
    response_model=RulePublic,
    summary="Update a rule (a new version)",
    responses=problem_responses(*_BODY_PROBLEMS),
    openapi_extra=_RULE_BODY,
)
async def update_rule(
    rule_id: RuleIdPath,
    request: Request,
    session: SessionDep,
    operator: Operator,
    settings: Settings,
) -> RulePublic:
    """Store the rule sent (JSON or YAML, with the same id as the URL) as the rule's next
    version. Warnings and timers keep the version they were raised under; a version changed
    through the API is not overwritten by the rule files at the next start."""
    rule = await _checked_rule(request, session, settings)
    return _public(
        await service.update_rule(session, rule_id=rule_id, rule=rule, actor=operator.actor)
    )


@router.post("/{rule_id}/disable", response_model=RulePublic, summary="Disable a rule")
async def disable_rule(rule_id: RuleIdPath, session: SessionDep, operator: Operator) -> RulePublic:
    """Stop the rule judging the records that arrive: it raises no warning from them and
    sets no timer for them until enabled again, and cannot be backfilled. Disabling a
    disabled rule changes nothing."""
    return _public(
        await service.set_enabled(session, rule_id=rule_id, enabled=False, actor=operator.actor)
    )


@router.post("/{rule_id}/enable", response_model=RulePublic, summary="Enable a rule")
async def enable_rule(rule_id: RuleIdPath, session: SessionDep, operator: Operator) -> RulePublic:
    """Let the rule judge the records that arrive again (a backfill judges those received
    while it was disabled). Enabling an enabled rule changes nothing."""
    return _public(
        await service.set_enabled(session, rule_id=rule_id, enabled=True, actor=operator.actor)
    )


@router.post(
    "/{rule_id}/backfill",
    response_model=BackfillResult,
    summary="Backfill a stored rule over the history",
    responses=problem_responses(ProblemCode.HTTP_ERROR, ProblemCode.RULE_DISABLED),
)
async def backfill_rule(
    rule_id: RuleIdPath,
    body: BackfillRequest,
    session: SessionDep,
    operator: Operator,
    settings: Settings,
    ctx: Context,
) -> BackfillResult:
    """Evaluate the stored rule over the history alerting keeps as of a time: list what it
    would raise (`dry_run`, the default), or raise those warnings and set the timers of the
    deadlines still ahead. Applying needs the rule enabled (`rule_disabled`)."""
    stored = await service.get_rule(session, rule_id=rule_id)
    return await backfill_service.backfill(
        session,
        stored=stored,
        as_of=body.as_of or ctx.clock.now(),
        dry_run=body.dry_run,
        limit=body.limit,
        batch_size=settings.alerting_sweep_batch_size,
    )
