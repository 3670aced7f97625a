"""Topic mappings as versioned rows: created, changed and removed through the API, checked
against the catalog the registry learns from the exchange's events, and seeded from the
mapping file at startup ("the API wins": the file never overwrites a topic whose mapping
an operator changed through the API).

Ingest reads a topic's current mapping in the transaction of each published event, so a
change applies to every record ingested after it commits, in every registry process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.catalog_events import topics_of
from govhub_common.events import CloudEvent
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found
from govhub_registry.ingest.mapping import DerivedFromId, Mapping, TopicMapping
from govhub_registry.mappings import models

log = logging.getLogger("govhub.registry.mappings")

FILE = "file"
API = "api"
# Two registry processes starting together apply the file once.
_FILE_LOCK = sa.select(
    sa.func.pg_advisory_xact_lock(sa.func.hashtext("govhub-registry-mapping-file"))
)

# The models' tables, for the reads: a select of their columns runs as Core and gives rows
# (what the routes and ingest read), not objects for the session to track; the per-event
# read of a topic's mapping is on the ingest path.
_MAPPINGS = sa.inspect(models.TopicMapping).local_table
_VERSIONS = sa.inspect(models.TopicMappingVersion).local_table
_CATALOG = sa.inspect(models.CatalogTopic).local_table
# A topic's current mapping row joined with its current version.
_CURRENT_JOIN = _MAPPINGS.join(
    _VERSIONS,
    sa.and_(
        _VERSIONS.c.topic == _MAPPINGS.c.topic,
        _VERSIONS.c.version == _MAPPINGS.c.current_version,
    ),
)


@dataclass(frozen=True)
class StoredMapping:
    topic: str
    version: int
    source: str
    updated_at: datetime
    updated_by: str
    definition: TopicMapping


@dataclass
class MappingStore:
    """The mapping as ingest and the routes read it: the current rows, parsed once per
    (topic, version)."""

    derived_from_id: DerivedFromId = field(default_factory=DerivedFromId)
    _parsed: dict[tuple[str, int], TopicMapping] = field(default_factory=dict)

    def _parse(self, topic: str, version: int, definition: Any) -> TopicMapping:
        held = self._parsed.get((topic, version))
        if held is None:
            raw = orjson.loads(definition) if isinstance(definition, str) else definition
            held = self._parsed[(topic, version)] = TopicMapping.model_validate(raw)
        return held

    async def topic(self, session: AsyncSession, topic: str) -> Mapping | None:
        """The mapping of one topic (the shape ingest takes), None when it has none."""
        version = (
            await session.execute(
                sa.select(_MAPPINGS.c.current_version).where(_MAPPINGS.c.topic == topic)
            )
        ).scalar_one_or_none()
        if version is None:
            return None
        rule = self._parsed.get((topic, version))
        if rule is None:
            definition = (
                await session.execute(
                    sa.select(_VERSIONS.c.definition).where(
                        _VERSIONS.c.topic == topic, _VERSIONS.c.version == version
                    )
                )
            ).scalar_one_or_none()
            if definition is None:  # removed
                return None
            rule = self._parse(topic, version, definition)
        return Mapping.model_construct(derived_from_id=self.derived_from_id, topics={topic: rule})

    async def snapshot(self, session: AsyncSession) -> Mapping:
        """Every current mapping."""
        rows = await session.execute(
            sa.select(
                _MAPPINGS.c.topic,
                _MAPPINGS.c.current_version,
                # As text: decoded only for a version not parsed yet (_parse).
                sa.cast(_VERSIONS.c.definition, sa.Text).label("definition"),
            )
            .select_from(_CURRENT_JOIN)
            .where(_VERSIONS.c.definition.is_not(None))
        )
        topics = {
            row.topic: self._parse(row.topic, row.current_version, row.definition) for row in rows
        }
        return Mapping.model_construct(derived_from_id=self.derived_from_id, topics=topics)


# ---- the catalog the registry learns from the exchange -----------------------------------


async def learn_catalog(session: AsyncSession, event: CloudEvent) -> None:
    """Keep each topic's data items as the catalog event states them; a repeated or late
    event (a lower current_version) changes nothing."""
    entries = [
        (topic.code, topic.current_version, sorted({item.name for item in topic.items}))
        for topic in topics_of(event)
    ]
    if not entries:
        return
    statement = insert(models.CatalogTopic)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[_CATALOG.c.topic],
            set_={
                "current_version": statement.excluded.current_version,
                "items": statement.excluded["items"],
                "learned_at": sa.func.now(),
            },
            where=_CATALOG.c.current_version <= statement.excluded.current_version,
        ),
        [
            {"topic": code, "current_version": version, "items": items}
            for code, version, items in entries
        ],
    )


def item_references(rule: TopicMapping) -> list[tuple[str, str]]:
    """(JSON path, data item) of every data item the mapping reads."""
    refs = [("$.key", rule.key)]
    if rule.valid_from:
        refs.append(("$.valid_from", rule.valid_from))
    refs += [
        (f"$.attributes.{name}.field", a.field)
        for name, a in rule.attributes.items()
        if a.field is not None
    ]
    if rule.fact:
        fact = rule.fact
        for name in ("reference", "start_date", "end_date", "date"):
            value = getattr(fact, name)
            if value:
                refs.append((f"$.fact.{name}", value))
        refs += [(f"$.fact.details[{i}]", d) for i, d in enumerate(fact.details)]
    return refs


async def check_against_catalog(
    session: AsyncSession, *, topic: str, rule: TopicMapping, topic_path: str
) -> None:
    """422 unknown_reference naming each field that names a topic or data item the
    exchange's catalog (as the registry learned it) does not have."""
    items = (
        await session.execute(sa.select(_CATALOG.c["items"]).where(_CATALOG.c.topic == topic))
    ).scalar_one_or_none()
    if items is None:
        errors = [
            {
                "path": topic_path,
                "message": f"unknown topic {topic!r}: the exchange's catalog has not "
                "announced it to the registry (create it at POST /exchange/v1/topics; a "
                "topic just created is known once GET /registry/v1/events/status shows no "
                "backlog)",
                "type": "unknown_topic",
            }
        ]
    else:
        known = set(items)
        errors = [
            {
                "path": path,
                "message": f"topic {topic} has no data item {name}",
                "type": "unknown_data_item",
            }
            for path, name in item_references(rule)
            if name not in known
        ]
    if errors:
        raise Problem(
            ProblemCode.UNKNOWN_REFERENCE,
            "the mapping names an unknown topic or data item: "
            + ", ".join(e["path"] for e in errors[:5]),
            errors=errors,
        )


# ---- versions ----------------------------------------------------------------------------


def _definition(rule: TopicMapping | None) -> Any:
    """The definition column's value: orjson's text cast to jsonb, SQL NULL for a removal."""
    if rule is None:
        return sa.null()
    text = orjson.dumps(rule.model_dump(mode="json", exclude_none=True)).decode()
    return sa.cast(sa.literal(text, sa.Text), JSONB)


# Each topic's current mapping, as rows (a NULL definition: removed).
_CURRENT = sa.select(
    _MAPPINGS.c.topic,
    _MAPPINGS.c.current_version.label("version"),
    _MAPPINGS.c.source,
    _MAPPINGS.c.updated_at,
    _MAPPINGS.c.updated_by,
    _VERSIONS.c.definition,
).select_from(_CURRENT_JOIN)


def _stored(row: Any) -> StoredMapping:
    return StoredMapping(
        topic=row.topic,
        version=row.version,
        source=row.source,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        definition=TopicMapping.model_validate(row.definition),
    )


async def _current(session: AsyncSession, topic: str, *, lock: bool = False) -> Any:
    statement = _CURRENT.where(_MAPPINGS.c.topic == topic)
    if lock:
        statement = statement.with_for_update(of=_MAPPINGS)
    return (await session.execute(statement)).first()


async def _new_version(
    session: AsyncSession,
    *,
    topic: str,
    rule: TopicMapping | None,
    source: str,
    actor: str,
    first: bool = False,
) -> int | None:
    """The topic's next version; with `first`, version 1 only (None when another request
    made the topic's row meanwhile)."""
    statement = insert(models.TopicMapping).values(
        topic=topic, current_version=1, source=source, updated_by=actor
    )
    if first:
        statement = statement.on_conflict_do_nothing(index_elements=[_MAPPINGS.c.topic])
    else:
        statement = statement.on_conflict_do_update(
            index_elements=[_MAPPINGS.c.topic],
            set_={
                "current_version": _MAPPINGS.c.current_version + 1,
                "source": statement.excluded.source,
                "updated_by": statement.excluded.updated_by,
                "updated_at": sa.func.now(),
            },
        )
    version = (
        await session.execute(statement.returning(_MAPPINGS.c.current_version))
    ).scalar_one_or_none()
    if version is None:
        return None
    await session.execute(
        insert(models.TopicMappingVersion).values(
            topic=topic,
            version=version,
            definition=_definition(rule),
            source=source,
            created_by=actor,
        )
    )
    return int(version)


async def get_mapping(session: AsyncSession, *, topic: str) -> StoredMapping:
    row = await _current(session, topic)
    if row is None or row.definition is None:
        raise not_found("mapping of topic", topic)
    return _stored(row)


async def create_mapping(
    session: AsyncSession, *, topic: str, rule: TopicMapping, actor: str, source: str = API
) -> StoredMapping:
    row = await _current(session, topic, lock=True)
    stored = row is None or row.definition is None
    if stored:
        # A topic never mapped: version 1, unless a concurrent create made it first.
        version = await _new_version(
            session, topic=topic, rule=rule, source=source, actor=actor, first=row is None
        )
        stored = version is not None
    if not stored:
        raise Problem(
            ProblemCode.CONFLICT,
            f"topic {topic} has a mapping; change it with PUT /v1/mappings/{topic}",
            errors=[{"path": "$.topic", "message": "already mapped"}],
        )
    return await get_mapping(session, topic=topic)


async def update_mapping(
    session: AsyncSession, *, topic: str, rule: TopicMapping, actor: str, source: str = API
) -> StoredMapping:
    row = await _current(session, topic, lock=True)
    if row is None or row.definition is None:
        raise not_found("mapping of topic", topic)
    await _new_version(session, topic=topic, rule=rule, source=source, actor=actor)
    return await get_mapping(session, topic=topic)


async def remove_mapping(session: AsyncSession, *, topic: str, actor: str) -> None:
    """A version without definition: records ingested afterwards are not mapped, and the
    file does not bring the mapping back (the removal came through the API)."""
    row = await _current(session, topic, lock=True)
    if row is None or row.definition is None:
        raise not_found("mapping of topic", topic)
    await _new_version(session, topic=topic, rule=None, source=API, actor=actor)


async def mappings_after(
    session: AsyncSession, *, after: str | None, limit: int
) -> list[StoredMapping]:
    statement = _CURRENT.where(_VERSIONS.c.definition.is_not(None))
    if after is not None:
        statement = statement.where(_MAPPINGS.c.topic > after)
    rows = await session.execute(statement.order_by(_MAPPINGS.c.topic).limit(limit))
    return [_stored(row) for row in rows]


async def mapping_versions(
    session: AsyncSession, *, topic: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    statement = sa.select(
        _VERSIONS.c.version,
        _VERSIONS.c.definition,
        _VERSIONS.c.source,
        _VERSIONS.c.created_at,
        _VERSIONS.c.created_by,
    ).where(_VERSIONS.c.topic == topic)
    if after is not None:
        statement = statement.where(_VERSIONS.c.version > after)
    rows = await session.execute(statement.order_by(_VERSIONS.c.version).limit(limit))
    return [dict(row._mapping) for row in rows]


async def apply_mapping_file(session: AsyncSession, mapping: Mapping) -> list[str]:
    """The file's topics as mappings: a topic without a mapping row gets version 1; a
    topic whose current version came from the file gets a new version when the file
    changed; a topic an operator changed or removed through the API keeps the API's."""
    await session.execute(_FILE_LOCK)
    changed: list[str] = []
    for topic, rule in mapping.topics.items():
        row = await _current(session, topic)
        if row is not None:
            if row.source != FILE:
                continue
            if row.definition is not None and TopicMapping.model_validate(row.definition) == rule:
                continue
        await _new_version(session, topic=topic, rule=rule, source=FILE, actor=FILE)
        changed.append(topic)
    if changed:
        log.info("mapping file applied to topics %s", ", ".join(changed))
    return changed
