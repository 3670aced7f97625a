"""Topics, their versioned schemas and data items."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.catalog_events import (
    CATALOG_ANNOUNCED,
    ITEM_FIELDS,
    TOPIC_CREATED,
    TOPIC_UPDATED,
    TOPIC_VERSION_ADDED,
    catalog_event,
)
from govhub_common.db import contains_pattern
from govhub_common.outbox import add_events
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, forbidden, not_found
from govhub_common.security import Principal
from govhub_exchange.audit import service as audit
from govhub_exchange.catalog.schema_rules import (
    check_evolution,
    compile_validator,
    data_items,
    normalise_topic_schema,
)
from govhub_exchange.catalog.schemas import (
    DataItemPublic,
    TopicCreate,
    TopicDetail,
    TopicPublic,
    TopicUpdate,
)

_TOPIC_COLUMNS = (
    "code, owner, title, description, sharing_type, legal_basis, current_version, head_seq, "
    "created_at, updated_at"
)

# Compiled validators by (topic, version): schemas never change once stored.
_validators: dict[tuple[str, int], Any] = {}


def _topic(row: Any) -> TopicPublic:
    return TopicPublic(**{k: getattr(row, k) for k in TopicPublic.model_fields})


async def _insert_items(
    session: AsyncSession, *, topic: str, schema: dict[str, Any], version: int
) -> None:
    items = data_items(schema)
    await session.execute(
        sa.text(
            "INSERT INTO exchange.data_items (topic_code, name, title, type, format, sensitivity, "
            "personal, required, since_version) "
            "SELECT :topic, * , :version FROM unnest(CAST(:names AS text[]), CAST(:titles AS text[]), "
            "CAST(:types AS text[]), CAST(:formats AS text[]), CAST(:sens AS text[]), "
            "CAST(:personal AS boolean[]), CAST(:required AS boolean[])) "
            "ON CONFLICT (topic_code, name) DO NOTHING"
        ),
        {
            "topic": topic,
            "version": version,
            "names": [i["name"] for i in items],
            "titles": [i["title"] for i in items],
            "types": [i["type"] for i in items],
            "formats": [i["format"] for i in items],
            "sens": [i["sensitivity"] for i in items],
            "personal": [i["personal"] for i in items],
            "required": [i["required"] for i in items],
        },
    )


async def create_topic(session: AsyncSession, *, who: Principal, body: TopicCreate) -> TopicDetail:
    owner = body.owner or who.agency
    if owner != who.agency and not who.is_operator:
        raise forbidden("only operators may create a topic for another agency")
    schema = normalise_topic_schema(body.json_schema)
    exists = (
        await session.execute(
            sa.text("SELECT 1 FROM exchange.agencies WHERE code = :c"), {"c": owner}
        )
    ).first()
    if exists is None:
        raise Problem(
            ProblemCode.UNKNOWN_AGENCY,
            f"agency {owner} is not registered",
            errors=[{"path": "$.owner", "message": "unknown agency"}],
        )
    row = (
        await session.execute(
            sa.text(
                "INSERT INTO exchange.topics (code, owner, title, description, sharing_type, "
                "legal_basis) VALUES (:code, :owner, :title, :description, :sharing, :basis) "
                f"ON CONFLICT DO NOTHING RETURNING {_TOPIC_COLUMNS}"
            ),
            {
                "code": body.code,
                "owner": owner,
                "title": body.title,
                "description": body.description,
                "sharing": body.sharing_type,
                "basis": body.legal_basis,
            },
        )
    ).first()
    if row is None:
        raise Problem(ProblemCode.TOPIC_EXISTS, f"topic {body.code} already exists")
    await session.execute(
        sa.text(
            "INSERT INTO exchange.topic_versions (topic_code, version, schema) "
            "VALUES (:code, 1, CAST(:schema AS jsonb))"
        ),
        {"code": body.code, "schema": orjson.dumps(schema).decode()},
    )
    await _insert_items(session, topic=body.code, schema=schema, version=1)
    await audit.append(
        session,
        actor=who.agency,
        action="topic.created",
        agency=owner,
        topic=body.code,
        details={
            "sharing_type": body.sharing_type,
            "version": 1,
            "items": sorted(schema["properties"]),
        },
    )
    await _stage_catalog_event(session, TOPIC_CREATED, code=body.code)
    return await get_topic(session, code=body.code)


async def _locked_topic(session: AsyncSession, *, code: str) -> Any:
    row = (
        await session.execute(
            sa.text(f"SELECT {_TOPIC_COLUMNS} FROM exchange.topics WHERE code = :c FOR UPDATE"),
            {"c": code},
        )
    ).first()
    if row is None:
        raise not_found("topic", code)
    return row


def _ensure_owner(who: Principal, owner: str) -> None:
    if who.agency != owner and not who.is_operator:
        raise forbidden(f"only the topic's owner ({owner}) may do this")


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
    await session.execute(
        sa.text(
            "UPDATE exchange.topics SET title = :title, description = :description, "
            "sharing_type = :sharing, legal_basis = :basis, updated_at = now() WHERE code = :code"
        ),
        {
            "code": code,
            "title": changes.get("title", row.title),
            "description": changes.get("description", row.description),
            "sharing": sharing,
            "basis": basis,
        },
    )
    await audit.append(
        session,
        actor=who.agency,
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
    await session.execute(
        sa.text(
            "INSERT INTO exchange.topic_versions (topic_code, version, schema) "
            "VALUES (:code, :v, CAST(:schema AS jsonb))"
        ),
        {"code": code, "v": version, "schema": orjson.dumps(new_schema).decode()},
    )
    await session.execute(
        sa.text(
            "UPDATE exchange.topics SET current_version = :v, updated_at = now() WHERE code = :code"
        ),
        {"code": code, "v": version},
    )
    await _insert_items(session, topic=code, schema=new_schema, version=version)
    await audit.append(
        session,
        actor=who.agency,
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
    topics = await session.execute(
        sa.text(
            "SELECT code, owner, title, sharing_type, current_version FROM exchange.topics "
            "WHERE CAST(:code AS text) IS NULL OR code = :code ORDER BY code"
        ),
        {"code": code},
    )
    entries = {
        row.code: {
            "code": row.code,
            "owner": row.owner,
            "title": row.title,
            "sharing_type": row.sharing_type,
            "current_version": row.current_version,
            "items": [],
        }
        for row in topics
    }
    items = await session.execute(
        sa.text(
            f"SELECT topic_code, {', '.join(ITEM_FIELDS)} FROM exchange.data_items "
            "WHERE CAST(:code AS text) IS NULL OR topic_code = :code ORDER BY topic_code, name"
        ),
        {"code": code},
    )
    for item in items:
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


async def topic_schema(session: AsyncSession, *, code: str, version: int) -> dict[str, Any]:
    raw = (
        await session.execute(
            sa.text(
                "SELECT schema::text FROM exchange.topic_versions WHERE topic_code = :c AND version = :v"
            ),
            {"c": code, "v": version},
        )
    ).scalar_one_or_none()
    if raw is None:
        raise not_found("topic version", f"{code}/{version}")
    return dict(orjson.loads(raw))


async def validator(session: AsyncSession, *, code: str, version: int) -> Any | None:
    """The compiled validator of a topic version, or None when that version does not exist."""
    key = (code, version)
    if key not in _validators:
        raw = (
            await session.execute(
                sa.text(
                    "SELECT schema::text FROM exchange.topic_versions "
                    "WHERE topic_code = :c AND version = :v"
                ),
                {"c": code, "v": version},
            )
        ).scalar_one_or_none()
        if raw is None:
            return None
        _validators[key] = compile_validator(orjson.loads(raw))
    return _validators[key]


async def get_topic_row(session: AsyncSession, *, code: str) -> TopicPublic:
    row = (
        await session.execute(
            sa.text(f"SELECT {_TOPIC_COLUMNS} FROM exchange.topics WHERE code = :c"), {"c": code}
        )
    ).first()
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
    rows = await session.execute(
        sa.text(
            f"SELECT {_TOPIC_COLUMNS} FROM exchange.topics WHERE code > :after "
            "AND (CAST(:owner AS text) IS NULL OR owner = :owner) "
            "AND (CAST(:sharing AS text) IS NULL OR sharing_type = :sharing) "
            "AND (CAST(:q AS text) IS NULL OR (code || ' ' || title || ' ' || description) ILIKE :pattern ESCAPE '\\') "
            "ORDER BY code LIMIT :limit"
        ),
        {
            "after": after,
            "owner": owner,
            "sharing": sharing_type,
            "q": q,
            "pattern": contains_pattern(q) if q else None,
            "limit": limit,
        },
    )
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
    rows = await session.execute(
        sa.text(
            "SELECT topic_code, name, title, type, format, sensitivity, personal, required, "
            "since_version FROM exchange.data_items WHERE (topic_code, name) > (:at, :an) "
            "AND (CAST(:topic AS text) IS NULL OR topic_code = :topic) "
            "AND (CAST(:personal AS boolean) IS NULL OR personal = :personal) "
            "AND (CAST(:sens AS text) IS NULL OR sensitivity = :sens) "
            "AND (CAST(:q AS text) IS NULL OR (name || ' ' || title) ILIKE :pattern ESCAPE '\\') "
            "ORDER BY topic_code, name LIMIT :limit"
        ),
        {
            "at": after[0],
            "an": after[1],
            "topic": topic,
            "personal": personal,
            "sens": sensitivity,
            "q": q,
            "pattern": contains_pattern(q) if q else None,
            "limit": limit,
        },
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
