"""Topics, their versioned schemas and data items. Plain reads and writes, through the
models (catalog/models.py)."""

from __future__ import annotations

from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.catalog_events import (
    CATALOG_ANNOUNCED,
    ITEM_FIELDS,
    TOPIC_CREATED,
    TOPIC_UPDATED,
    TOPIC_VERSION_ADDED,
    catalog_event,
)
from govhub_common.db import contains_pattern
from govhub_common.model_fields import jsonb_value
from govhub_common.outbox import add_events
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, forbidden, not_found
from govhub_common.security import Principal
from govhub_exchange.audit import service as audit
from govhub_exchange.catalog.models import DataItem, Topic, TopicVersion
from govhub_exchange.catalog.schema_rules import (
    check_evolution,
    compile_validator,
    data_items,
    normalise_topic_schema,
)
from govhub_exchange.catalog.schemas import (
    DataItemPublic,
    Retention,
    TopicCreate,
    TopicDetail,
    TopicPublic,
    TopicUpdate,
)
from govhub_exchange.identity.models import Agency

# Topics and items are read as rows of the columns the API shows, never as objects the
# session keeps: the updates below are statements, which kept objects would not see.
_TOPIC = (
    col(Topic.code),
    col(Topic.owner),
    col(Topic.title),
    col(Topic.description),
    col(Topic.sharing_type),
    col(Topic.legal_basis),
    col(Topic.retention_days),
    col(Topic.retention_basis),
    col(Topic.current_version),
    col(Topic.head_seq),
    col(Topic.log_start_seq),
    col(Topic.created_at),
    col(Topic.updated_at),
)
_ITEM = (
    col(DataItem.topic_code),
    col(DataItem.name),
    col(DataItem.title),
    col(DataItem.type),
    col(DataItem.format),
    col(DataItem.sensitivity),
    col(DataItem.personal),
    col(DataItem.required),
    col(DataItem.since_version),
)

# Compiled validators and declared items by (topic, version): a version's schema never
# changes once stored, so each is read once per database. Kept with the engine that read
# it, not per process: one process may serve two databases (tests do, as an operator's
# tools may), and there one topic code and version can stand for different schemas.
_Held = TypeVar("_Held")
_validators: WeakKeyDictionary[Engine, dict[tuple[str, int], Any]] = WeakKeyDictionary()
_declared: WeakKeyDictionary[Engine, dict[tuple[str, int], frozenset[str]]] = WeakKeyDictionary()


def _of_database(
    caches: WeakKeyDictionary[Engine, dict[tuple[str, int], _Held]], session: AsyncSession
) -> dict[tuple[str, int], _Held]:
    """This session's database's part of a cache."""
    bind = session.bind
    assert bind is not None, "sessions are made bound to their database's engine"
    return caches.setdefault(bind.sync_engine, {})


def _topic(row: Any) -> TopicPublic:
    fields = {k: getattr(row, k) for k in TopicPublic.model_fields if k != "retention"}
    retention = (
        Retention(days=row.retention_days, legal_basis=row.retention_basis)
        if row.retention_days is not None
        else None
    )
    return TopicPublic(**fields, retention=retention)


def _searched(*columns: Any) -> sa.ColumnElement[str]:
    """The columns joined by spaces, as the trigram indexes of models.py write them (the
    separator a literal, not a parameter, so that the index's expression matches)."""
    space: sa.ColumnElement[str] = sa.literal_column("' '")
    text: sa.ColumnElement[str] = columns[0]
    for column in columns[1:]:
        text = text.concat(space).concat(column)
    return text


def _search(text: sa.ColumnElement[str], q: str) -> sa.ColumnElement[bool]:
    """Whether the text contains q."""
    return text.ilike(contains_pattern(q), escape="\\")


async def _insert_items(
    session: AsyncSession, *, topic: str, schema: dict[str, Any], version: int
) -> None:
    """The schema's data items a previous version did not have, since `version`."""
    items = data_items(schema)
    if not items:  # a stored schema declares at least one (schema_rules)
        return
    await session.execute(
        insert(DataItem)
        .values([{"topic_code": topic, **item, "since_version": version} for item in items])
        .on_conflict_do_nothing(index_elements=[col(DataItem.topic_code), col(DataItem.name)])
    )


async def _insert_version(
    session: AsyncSession, *, code: str, version: int, schema: dict[str, Any]
) -> None:
    await session.execute(
        insert(TopicVersion).values(
            topic_code=code, version=version, json_schema=jsonb_value(schema)
        )
    )


async def create_topic(session: AsyncSession, *, who: Principal, body: TopicCreate) -> TopicDetail:
    owner = body.owner or who.agency
    if owner != who.agency and not who.is_operator:
        raise forbidden("only operators may create a topic for another agency")
    schema = normalise_topic_schema(body.json_schema)
    known = (
        await session.execute(sa.select(col(Agency.code)).where(col(Agency.code) == owner))
    ).first()
    if known is None:
        raise Problem(
            ProblemCode.UNKNOWN_AGENCY,
            f"agency {owner} is not registered",
            errors=[{"path": "$.owner", "message": "unknown agency"}],
        )
    row = (
        await session.execute(
            insert(Topic)
            .values(
                code=body.code,
                owner=owner,
                title=body.title,
                description=body.description,
                sharing_type=body.sharing_type,
                legal_basis=body.legal_basis,
                **_retention_values(body.retention.model_dump() if body.retention else None),
            )
            .on_conflict_do_nothing()
            .returning(*_TOPIC)
        )
    ).first()
    if row is None:
        raise Problem(ProblemCode.TOPIC_EXISTS, f"topic {body.code} already exists")
    await _insert_version(session, code=body.code, version=1, schema=schema)
    await _insert_items(session, topic=body.code, schema=schema, version=1)
    await audit.append(
        session,
        actor=who.actor,
        action="topic.created",
        agency=owner,
        topic=body.code,
        details={
            "sharing_type": body.sharing_type,
            "retention": body.retention.model_dump() if body.retention else None,
            "version": 1,
            "items": sorted(schema["properties"]),
        },
    )
    await _stage_catalog_event(session, TOPIC_CREATED, code=body.code)
    return await get_topic(session, code=body.code)


async def _locked_topic(session: AsyncSession, *, code: str) -> Any:
    row = (
        await session.execute(sa.select(*_TOPIC).where(col(Topic.code) == code).with_for_update())
    ).first()
    if row is None:
        raise not_found("topic", code)
    return row


def _ensure_owner(who: Principal, owner: str) -> None:
    if who.agency != owner and not who.is_operator:
        raise forbidden(f"only the topic's owner ({owner}) may do this")


async def _update_topic(session: AsyncSession, *, code: str, **values: Any) -> None:
    await session.execute(
        sa.update(Topic)
        .where(col(Topic.code) == code)
        .values(**values, updated_at=sa.func.now())
        # The UPDATE as written, no RETURNING added to sync the session (rows, above).
        .execution_options(synchronize_session=False)
    )


def _retention_values(retention: dict[str, Any] | None) -> dict[str, Any]:
    """The retention columns of a Retention (as a dict), or of none: records kept for ever."""
    return {
        "retention_days": retention["days"] if retention else None,
        "retention_basis": retention["legal_basis"] if retention else None,
    }


async def update_topic(
    session: AsyncSession, *, who: Principal, code: str, body: TopicUpdate
) -> TopicDetail:
    row = await _locked_topic(session, code=code)
    _ensure_owner(who, row.owner)
    changes = body.model_dump(exclude_unset=True)
    sharing = changes.get("sharing_type", row.sharing_type)
    basis = changes.get("legal_basis", row.legal_basis)
    if sharing == "not_shared" and not basis:  # the topic's state with the change: 409
        raise Problem(
            ProblemCode.CONFLICT,
            "legal_basis is required when sharing_type is not_shared",
            errors=[{"path": "$.legal_basis", "message": "required for not_shared topics"}],
        )
    await _update_topic(
        session,
        code=code,
        title=changes.get("title", row.title),
        description=changes.get("description", row.description),
        sharing_type=sharing,
        legal_basis=basis,
        # A PATCH's retention object sets it, null keeps records for ever, absent leaves it.
        **(
            _retention_values(changes["retention"])
            if "retention" in changes
            else {"retention_days": row.retention_days, "retention_basis": row.retention_basis}
        ),
    )
    await audit.append(
        session,
        actor=who.actor,
        action="topic.updated",
        agency=row.owner,
        topic=code,
        details=changes,
    )
    await _stage_catalog_event(session, TOPIC_UPDATED, code=code)
    return await get_topic(session, code=code)


async def add_version(
    session: AsyncSession, *, who: Principal, code: str, schema: dict[str, Any]
) -> TopicDetail:
    row = await _locked_topic(session, code=code)
    _ensure_owner(who, row.owner)
    new_schema = normalise_topic_schema(schema)
    old_schema = await topic_schema(session, code=code, version=row.current_version)
    check_evolution(old_schema, new_schema)
    version = row.current_version + 1
    await _insert_version(session, code=code, version=version, schema=new_schema)
    await _update_topic(session, code=code, current_version=version)
    await _insert_items(session, topic=code, schema=new_schema, version=version)
    await audit.append(
        session,
        actor=who.actor,
        action="topic.versioned",
        agency=row.owner,
        topic=code,
        details={
            "version": version,
            "added_items": sorted(set(new_schema["properties"]) - set(old_schema["properties"])),
        },
    )
    await _stage_catalog_event(session, TOPIC_VERSION_ADDED, code=code)
    return await get_topic(session, code=code)


async def catalog_entries(
    session: AsyncSession, *, code: str | None = None
) -> list[dict[str, Any]]:
    """Topics as the catalog events carry them (govhub_common.catalog_events): one topic,
    or every topic when `code` is None."""
    topics = sa.select(
        col(Topic.code),
        col(Topic.owner),
        col(Topic.title),
        col(Topic.sharing_type),
        col(Topic.current_version),
    ).order_by(col(Topic.code))
    items = sa.select(
        col(DataItem.topic_code), *(col(getattr(DataItem, f)) for f in ITEM_FIELDS)
    ).order_by(col(DataItem.topic_code), col(DataItem.name))
    if code is not None:
        topics = topics.where(col(Topic.code) == code)
        items = items.where(col(DataItem.topic_code) == code)
    entries = {
        row.code: {
            "code": row.code,
            "owner": row.owner,
            "title": row.title,
            "sharing_type": row.sharing_type,
            "current_version": row.current_version,
            "items": [],
        }
        for row in await session.execute(topics)
    }
    for item in await session.execute(items):
        if item.topic_code in entries:
            entries[item.topic_code]["items"].append({f: getattr(item, f) for f in ITEM_FIELDS})
    return list(entries.values())


async def _stage_catalog_event(session: AsyncSession, event_type: str, *, code: str) -> None:
    """In the transaction of the change: the topic as it now stands."""
    await add_events(
        session, "exchange", [catalog_event(event_type, await catalog_entries(session, code=code))]
    )


async def announce_catalog(session: AsyncSession) -> None:
    """The whole catalog in one event, for services that subscribed after topics were made
    (staged at each start of the exchange; applying it again changes nothing)."""
    entries = await catalog_entries(session)
    if entries:
        await add_events(session, "exchange", [catalog_event(CATALOG_ANNOUNCED, entries)])


async def _schema_text(session: AsyncSession, *, code: str, version: int) -> str | None:
    """A version's schema as PostgreSQL writes it, parsed by orjson (as it always was)."""
    return (
        await session.execute(
            sa.select(sa.cast(col(TopicVersion.json_schema), sa.Text)).where(
                col(TopicVersion.topic_code) == code, col(TopicVersion.version) == version
            )
        )
    ).scalar_one_or_none()


async def topic_schema(session: AsyncSession, *, code: str, version: int) -> dict[str, Any]:
    raw = await _schema_text(session, code=code, version=version)
    if raw is None:
        raise not_found("topic version", f"{code}/{version}")
    return dict(orjson.loads(raw))


async def validator(session: AsyncSession, *, code: str, version: int) -> Any | None:
    """The compiled validator of a topic version, or None when that version does not exist."""
    key = (code, version)
    validators = _of_database(_validators, session)
    if key not in validators:
        raw = await _schema_text(session, code=code, version=version)
        if raw is None:
            return None
        validators[key] = compile_validator(orjson.loads(raw))
    return validators[key]


async def declared_items(session: AsyncSession, *, code: str, version: int) -> frozenset[str]:
    """The data items a topic version declares (its schema's properties); cached like the
    validators, since a version never changes."""
    key = (code, version)
    declared = _of_database(_declared, session)
    if key not in declared:
        raw = await _schema_text(session, code=code, version=version)
        schema = orjson.loads(raw) if raw is not None else {}
        declared[key] = frozenset(schema.get("properties") or ())
    return declared[key]


async def get_topic_row(session: AsyncSession, *, code: str) -> TopicPublic:
    row = (await session.execute(sa.select(*_TOPIC).where(col(Topic.code) == code))).first()
    if row is None:
        raise not_found("topic", code)
    return _topic(row)


async def get_topic(session: AsyncSession, *, code: str) -> TopicDetail:
    topic = await get_topic_row(session, code=code)
    schema = await topic_schema(session, code=code, version=topic.current_version)
    items = await list_items(
        session, q=None, topic=code, personal=None, sensitivity=None, after=("", ""), limit=10_000
    )
    return TopicDetail(**topic.model_dump(), json_schema=schema, data_items=items)


async def list_topics(
    session: AsyncSession,
    *,
    q: str | None,
    owner: str | None,
    sharing_type: str | None,
    after: str,
    limit: int,
) -> list[TopicPublic]:
    statement = sa.select(*_TOPIC).where(col(Topic.code) > after)
    if owner is not None:
        statement = statement.where(col(Topic.owner) == owner)
    if sharing_type is not None:
        statement = statement.where(col(Topic.sharing_type) == sharing_type)
    if q:  # an empty search box filters nothing
        searched = _searched(col(Topic.code), col(Topic.title), col(Topic.description))
        statement = statement.where(_search(searched, q))
    rows = await session.execute(statement.order_by(col(Topic.code)).limit(limit))
    return [_topic(row) for row in rows]


async def list_items(
    session: AsyncSession,
    *,
    q: str | None,
    topic: str | None,
    personal: bool | None,
    sensitivity: str | None,
    after: tuple[str, str],
    limit: int,
) -> list[DataItemPublic]:
    statement = sa.select(*_ITEM).where(
        sa.tuple_(col(DataItem.topic_code), col(DataItem.name)) > sa.tuple_(*after)
    )
    if topic is not None:
        statement = statement.where(col(DataItem.topic_code) == topic)
    if personal is not None:
        statement = statement.where(col(DataItem.personal) == personal)
    if sensitivity is not None:
        statement = statement.where(col(DataItem.sensitivity) == sensitivity)
    if q:
        statement = statement.where(_search(_searched(col(DataItem.name), col(DataItem.title)), q))
    rows = await session.execute(
        statement.order_by(col(DataItem.topic_code), col(DataItem.name)).limit(limit)
    )
    return [
        DataItemPublic(
            topic=row.topic_code,
            name=row.name,
            title=row.title,
            type=row.type,
            format=row.format,
            sensitivity=row.sensitivity,
            personal=row.personal,
            required=row.required,
            since_version=row.since_version,
        )
        for row in rows
    ]
