"""Rules: parsed and checked, stored as versions, loaded from YAML files at start-up. Plain
reads and writes, through the models (rules/models.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from govhub_alerting.engine.history import materialize
from govhub_alerting.rules.announcements import announce_rules
from govhub_alerting.rules.catalog import (
    DEFAULT_CONTACT_ATTRIBUTES,
    learn_catalog,
    reference_errors,
)
from govhub_alerting.rules.kinds import referenced_fields
from govhub_alerting.rules.language import RULE_ADAPTER, AnyRule, pydantic_error_path
from govhub_alerting.rules.models import KnownTopic, Rule, RuleVersion
from govhub_common.catalog_events import CATALOG_ANNOUNCED, catalog_event
from govhub_common.city.format import catalog_of, validated_specs
from govhub_common.model_fields import jsonb_value
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found

log = logging.getLogger("govhub.alerting.rules")

# The registry's deaths reach alerting under this name; they are no topic of a city.
_NOT_A_CITY_TOPIC = "registry_person_deceased"


@dataclass(frozen=True)
class StoredRule:
    rule: AnyRule
    version: int
    enabled: bool
    source: str
    updated_at: Any = None
    updated_by: str | None = None

    @property
    def id(self) -> str:
        return self.rule.id


def _unstorable(raw: Any, path: str = "$") -> list[dict[str, Any]]:
    """Values PostgreSQL cannot hold: text with NUL, integers beyond 64 bits."""
    if isinstance(raw, str) and "\x00" in raw:
        return [{"path": path, "message": "must not contain NUL characters", "type": "nul"}]
    if isinstance(raw, int) and not isinstance(raw, bool) and not -(2**63) <= raw < 2**63:
        return [{"path": path, "message": "must fit in 64 bits", "type": "int_range"}]
    if isinstance(raw, dict):
        found = [
            error
            for key in raw
            if isinstance(key, str)
            for error in _unstorable(key, f"{path}.{key}")
        ]
        return found + [
            e for key, value in raw.items() for e in _unstorable(value, f"{path}.{key}")
        ]
    if isinstance(raw, list):
        return [e for i, value in enumerate(raw) for e in _unstorable(value, f"{path}[{i}]")]
    return []


def parse_rule(raw: Any) -> AnyRule:
    """A rule from its JSON/YAML form; every fault is reported with its JSON path."""
    try:
        errors = _unstorable(raw)
    except RecursionError:
        errors = [{"path": "$", "message": "nested too deeply", "type": "too_deep"}]
    if not errors:
        try:
            # Strict: a boolean is true or false and a number a number, as the rule
            # language's JSON Schema says (not "yes", 1 or "30" coerced).
            return RULE_ADAPTER.validate_python(raw, strict=True)
        except ValidationError as exc:
            errors = [
                {
                    "path": pydantic_error_path(tuple(e["loc"])),
                    "message": e["msg"],
                    "type": e["type"],
                }
                for e in exc.errors()
            ]
    raise Problem(
        ProblemCode.INVALID_RULE,
        "the rule is not valid: " + ", ".join(e["path"] for e in errors[:5]),
        errors=errors,
    )


async def check_rule(
    session: AsyncSession,
    rule: AnyRule,
    *,
    contact_attributes: tuple[str, ...] = DEFAULT_CONTACT_ATTRIBUTES,
) -> None:
    errors = await reference_errors(session, rule, contact_attributes=contact_attributes)
    if errors:
        raise Problem(
            ProblemCode.UNKNOWN_REFERENCE,
            "the rule names unknown topics, fields or registry attributes: "
            + ", ".join(e["path"] for e in errors[:5]),
            errors=errors,
        )


async def _store_version(
    session: AsyncSession, rule: AnyRule, *, version: int, source: str, actor: str
) -> None:
    await session.execute(
        insert(RuleVersion).values(
            rule_id=rule.id,
            version=version,
            # orjson's text cast to jsonb, as before (not the engine's json.dumps of a dict).
            definition=jsonb_value(rule.model_dump(mode="json", exclude_none=True)),
            source=source,
            created_by=actor,
        )
    )


async def create_rule(
    session: AsyncSession, *, rule: AnyRule, actor: str, source: str = "api"
) -> StoredRule:
    inserted = (
        await session.execute(
            insert(Rule)
            .values(id=rule.id, current_version=1, enabled=rule.enabled, updated_by=actor)
            .on_conflict_do_nothing(index_elements=[col(Rule.id)])
            .returning(col(Rule.id))
        )
    ).first()
    if inserted is None:
        raise Problem(
            ProblemCode.RULE_EXISTS,
            f"rule {rule.id} exists; update it with PUT /v1/rules/{rule.id}",
            errors=[{"path": "$.id", "message": "already exists"}],
        )
    await _store_version(session, rule, version=1, source=source, actor=actor)
    await _complete_facts(session, rule)
    stored = await get_rule(session, rule_id=rule.id)
    await announce_rules(session, [stored])
    return stored


async def _complete_facts(session: AsyncSession, rule: AnyRule) -> None:
    """From now on the event path keeps the rule's facts; those of the records received
    before are derived from the stored records, so the rule judges new records against the
    history (a pension payment after a death recorded before the rule existed)."""
    await materialize(session, rule=rule, stored=[s.rule for s in await list_rules(session)])


async def update_rule(
    session: AsyncSession, *, rule_id: str, rule: AnyRule, actor: str, source: str = "api"
) -> StoredRule:
    """A new version; warnings and timers keep the version they were raised under."""
    if rule.id != rule_id:
        raise Problem(
            ProblemCode.INVALID_RULE,
            "the rule id in the body differs from the URL",
            errors=[{"path": "$.id", "message": f"must be {rule_id}"}],
        )
    row = (
        await session.execute(
            sa.update(Rule)
            .where(col(Rule.id) == rule_id)
            .values(
                current_version=col(Rule.current_version) + 1,
                enabled=rule.enabled,
                updated_at=sa.func.now(),
                updated_by=actor,
            )
            .returning(col(Rule.current_version))
            # The UPDATE as written, no RETURNING added to sync the session: rules are read
            # as rows (_CURRENT), never as objects the session keeps.
            .execution_options(synchronize_session=False)
        )
    ).first()
    if row is None:
        raise not_found("rule", rule_id)
    await _store_version(session, rule, version=row.current_version, source=source, actor=actor)
    await _complete_facts(session, rule)
    stored = await get_rule(session, rule_id=rule_id)
    await announce_rules(session, [stored])
    return stored


async def set_enabled(
    session: AsyncSession, *, rule_id: str, enabled: bool, actor: str
) -> StoredRule:
    # Locked, so of two requests disabling a rule at once only the first announces a change.
    was_enabled = (
        await session.execute(
            select(col(Rule.enabled)).where(col(Rule.id) == rule_id).with_for_update()
        )
    ).scalar_one_or_none()
    if was_enabled is None:
        raise not_found("rule", rule_id)
    await session.execute(
        sa.update(Rule)
        .where(col(Rule.id) == rule_id)
        .values(enabled=enabled, updated_at=sa.func.now(), updated_by=actor)
        .execution_options(synchronize_session=False)
    )
    stored = await get_rule(session, rule_id=rule_id)
    if was_enabled != enabled:
        await announce_rules(session, [stored])
    return stored


async def announce_every_rule(session: AsyncSession) -> None:
    """Every rule in one event (at each start of alerting), for a consumer that subscribed
    after the rules were made; it applies the repeat idempotently."""
    await announce_rules(session, await list_rules(session))


# The models' tables, for the reads on the ingest path (list_rules once per event and per
# sweep, install_city_rules' lookup): a select of the tables' columns runs as Core, the same
# SQL as the hand-written one at its speed; one of the ORM attributes (col(Rule.id)) pays the
# ORM's statement handling, about 0.1 ms per execution (list_rules' statement with the 4
# Guangzhou rules: 490 us as Core, 520 us as text, 610 us through the ORM).
_RULES = sa.inspect(Rule).local_table
_VERSIONS = sa.inspect(RuleVersion).local_table

# Each rule with its current version, as rows. (SQLAlchemy's select: SQLModel's takes up to
# four columns.)
_CURRENT = sa.select(
    _RULES.c.id,
    _RULES.c.enabled,
    _RULES.c.updated_at,
    _RULES.c.updated_by,
    _VERSIONS.c.version,
    _VERSIONS.c.definition,
    _VERSIONS.c.source,
).join(
    _VERSIONS,
    sa.and_(
        _VERSIONS.c.rule_id == _RULES.c.id,
        _VERSIONS.c.version == _RULES.c.current_version,
    ),
)


def _stored(row: Any) -> StoredRule:
    return StoredRule(
        rule=RULE_ADAPTER.validate_python(row.definition),
        version=row.version,
        enabled=row.enabled,
        source=row.source,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


async def get_rule(session: AsyncSession, *, rule_id: str) -> StoredRule:
    row = (await session.execute(_CURRENT.where(_RULES.c.id == rule_id))).first()
    if row is None:
        raise not_found("rule", rule_id)
    return _stored(row)


async def list_rules(session: AsyncSession, *, enabled_only: bool = False) -> list[StoredRule]:
    statement = _CURRENT.where(_RULES.c.enabled) if enabled_only else _CURRENT
    rows = await session.execute(statement.order_by(_RULES.c.id))
    return [_stored(row) for row in rows]


async def rules_after(session: AsyncSession, *, after: str | None, limit: int) -> list[StoredRule]:
    """Up to `limit` rules by id, after the rule `after` (a page of the list)."""
    statement = _CURRENT if after is None else _CURRENT.where(_RULES.c.id > after)
    rows = await session.execute(statement.order_by(_RULES.c.id).limit(limit))
    return [_stored(row) for row in rows]


async def rule_versions(
    session: AsyncSession, *, rule_id: str, after: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The versions of a rule in order, after the version `after`; up to `limit`."""
    statement = sa.select(
        col(RuleVersion.version),
        col(RuleVersion.definition),
        col(RuleVersion.source),
        col(RuleVersion.created_at),
        col(RuleVersion.created_by),
    ).where(col(RuleVersion.rule_id) == rule_id)
    if after is not None:
        statement = statement.where(col(RuleVersion.version) > after)
    # limit None: every version (LIMIT NULL before).
    rows = await session.execute(statement.order_by(col(RuleVersion.version)).limit(limit))
    return [dict(row._mapping) for row in rows]


@cache
def city_rules(path: Path | None) -> tuple[AnyRule, ...]:
    """The AlertRule documents of a city's files (GOVHUB_CITY_FILES; none when unset),
    checked by the API's own model: a mistake raises InvalidCity, naming its place, and
    stops the start."""
    if path is None:
        return ()
    return tuple(rule for _origin, rule in validated_specs(path, "AlertRule", _file_rule))


def _file_rule(spec: dict[str, Any]) -> AnyRule:
    try:
        return parse_rule(spec)
    except Problem as problem:
        faults = problem.errors or [{"path": "$", "message": problem.detail}]
        raise ValueError("; ".join(f"{e['path']}: {e['message']}" for e in faults)) from None


async def update_file_rules(
    session: AsyncSession,
    *,
    rules: Iterable[AnyRule],
    contact_attributes: tuple[str, ...] = DEFAULT_CONTACT_ATTRIBUTES,
) -> list[str]:
    """A city's rule the hub has and the files changed becomes a new version, unless an
    operator changed the rule through the API since (the API wins)."""
    changed: list[str] = []
    for rule in rules:
        current = (await session.execute(_CURRENT.where(_RULES.c.id == rule.id))).first()
        if current is None or current.source != "file" or _stored(current).rule == rule:
            continue
        try:
            await check_rule(session, rule, contact_attributes=contact_attributes)
        except Problem as problem:
            log.error("rule %s not updated: %s %s", rule.id, problem.detail, problem.errors)
            continue
        await update_rule(session, rule_id=rule.id, rule=rule, actor="file", source="file")
        changed.append(rule.id)
    return changed


def _city_topics(rule: AnyRule) -> set[str]:
    return set(referenced_fields(rule)) - {_NOT_A_CITY_TOPIC}


async def install_city_rules(
    session: AsyncSession,
    *,
    rules: Iterable[AnyRule],
    topics: Iterable[str],
    contact_attributes: tuple[str, ...] = DEFAULT_CONTACT_ATTRIBUTES,
) -> list[str]:
    """Install the city's rules naming one of `topics` (a topic the exchange's catalog just
    announced, or whose records just arrived) that the hub does not have yet: a rule comes
    with its topics, so files may name topics `govhub apply` creates after the start. A
    rule an operator changed or disabled exists, so it is left alone (the API wins)."""
    given = set(topics)
    # One indexed query per event of a topic a city's rule names; none for other topics.
    wanted = [rule for rule in rules if given & _city_topics(rule)]
    if not wanted:
        return []
    # = ANY(one array parameter), not IN (one parameter per id): one statement shape for
    # any number of rules, so the ingest path keeps reusing its prepared statement.
    ids = sa.bindparam("ids", [rule.id for rule in wanted], type_=ARRAY(sa.Text))
    stored = set(
        (await session.execute(sa.select(_RULES.c.id).where(_RULES.c.id == sa.any_(ids)))).scalars()
    )
    installed = []
    for rule in wanted:
        if rule.id in stored:
            continue
        try:
            await check_rule(session, rule, contact_attributes=contact_attributes)
            # Another consumer installing it at the same moment: 409, nothing to do.
            await create_rule(session, rule=rule, actor="file", source="file")
        except Problem as problem:
            log.info("rule %s of the city's files not installed: %s", rule.id, problem.detail)
            continue
        installed.append(rule.id)
    if installed:
        log.info("rules of the city's files installed for their topics: %s", ", ".join(installed))
    return installed


async def adopt_city(session: AsyncSession, city: Path) -> list[str]:
    """What alerting has once an exchange holds a city's topics: the catalog learnt from the
    files' Topic documents (as the exchange's `exchange.catalog.announced` event carries it)
    and the files' rules installed. For an alerting database without an exchange
    (benchmarks, tests); returns the rules installed."""
    topics = catalog_of(city)
    await learn_catalog(session, catalog_event(CATALOG_ANNOUNCED, topics))
    return await install_city_rules(
        session, rules=city_rules(city), topics=[topic["code"] for topic in topics]
    )


async def known_city_topics(session: AsyncSession) -> list[str]:
    """The topics the exchange's catalog announced or whose records arrived (not the
    shipped list of the demo's topics)."""
    # Not the registry's subjects, named `registry.<subject>`.
    rows = await session.execute(
        select(col(KnownTopic.topic)).where(col(KnownTopic.topic).not_like("%.%"))
    )
    return list(rows.scalars())
