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
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.catalog_events import topics_of
from govhub_common.events import CloudEvent
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found
from govhub_registry.ingest.mapping import DerivedFromId, Mapping, TopicMapping

log = logging.getLogger("govhub.registry.mappings")

FILE = "file"
API = "api"
# Two registry processes starting together apply the file once.
_FILE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('govhub-registry-mapping-file'))"


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
        row = (
            await session.execute(
                sa.text("SELECT current_version FROM registry.topic_mapping WHERE topic = :t"),
                {"t": topic},
            )
        ).first()
        if row is None:
            return None
        rule = self._parsed.get((topic, row.current_version))
        if rule is None:
            definition = (
                await session.execute(
                    sa.text(
                        "SELECT definition::text FROM registry.topic_mapping_version "
                        "WHERE topic = :t AND version = :v"
                    ),
                    {"t": topic, "v": row.current_version},
                )
            ).scalar_one_or_none()
            if definition is None:  # removed
                return None
            rule = self._parse(topic, row.current_version, definition)
        return Mapping.model_construct(derived_from_id=self.derived_from_id, topics={topic: rule})

    async def snapshot(self, session: AsyncSession) -> Mapping:
        """Every current mapping."""
        rows = await session.execute(
            sa.text(
                "SELECT m.topic, m.current_version, v.definition::text AS definition "
                "FROM registry.topic_mapping m JOIN registry.topic_mapping_version v "
                "ON v.topic = m.topic AND v.version = m.current_version "
                "WHERE v.definition IS NOT NULL"
            )
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
    await session.execute(
        sa.text(
            "INSERT INTO registry.catalog_topic (topic, current_version, items) "
            "SELECT t.topic, t.v, ARRAY(SELECT jsonb_array_elements_text(t.items)) "
            "FROM jsonb_to_recordset(CAST(:entries AS jsonb)) AS t(topic text, v int, items jsonb) "
            "ON CONFLICT (topic) DO UPDATE SET current_version = excluded.current_version, "
            "items = excluded.items, learned_at = now() "
            "WHERE registry.catalog_topic.current_version <= excluded.current_version"
        ),
        {
            "entries": orjson.dumps(
                [{"topic": code, "v": version, "items": items} for code, version, items in entries]
            ).decode()
        },
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
        await session.execute(
            sa.text("SELECT items FROM registry.catalog_topic WHERE topic = :t"), {"t": topic}
        )
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


def _definition(rule: TopicMapping | None) -> str | None:
    if rule is None:
        return None
    return orjson.dumps(rule.model_dump(mode="json", exclude_none=True)).decode()


_SELECT = (
    "SELECT m.topic, m.current_version AS version, m.source, m.updated_at, m.updated_by, "
    "v.definition::text AS definition FROM registry.topic_mapping m "
    "JOIN registry.topic_mapping_version v ON v.topic = m.topic AND v.version = m.current_version "
)


def _stored(row: Any) -> StoredMapping:
    return StoredMapping(
        topic=row.topic,
        version=row.version,
        source=row.source,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        definition=TopicMapping.model_validate(orjson.loads(row.definition)),
    )


async def _current(session: AsyncSession, topic: str, *, lock: bool = False) -> Any:
    return (
        await session.execute(
            sa.text(_SELECT + "WHERE m.topic = :t" + (" FOR UPDATE OF m" if lock else "")),
            {"t": topic},
        )
    ).first()


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
    on_conflict = (
        "DO NOTHING"
        if first
        else "DO UPDATE SET current_version = registry.topic_mapping.current_version + 1, "
        "source = excluded.source, updated_by = excluded.updated_by, updated_at = now()"
    )
    version = (
        await session.execute(
            sa.text(
                "INSERT INTO registry.topic_mapping (topic, current_version, source, updated_by) "
                f"VALUES (:t, 1, :s, :a) ON CONFLICT (topic) {on_conflict} "
                "RETURNING current_version"
            ),
            {"t": topic, "s": source, "a": actor},
        )
    ).scalar_one_or_none()
    if version is None:
        return None
    await session.execute(
        sa.text(
            "INSERT INTO registry.topic_mapping_version "
            "(topic, version, definition, source, created_by) "
            "VALUES (:t, :v, CAST(:d AS jsonb), :s, :a)"
        ),
        {"t": topic, "v": version, "d": _definition(rule), "s": source, "a": actor},
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
    rows = await session.execute(
        sa.text(
            _SELECT + "WHERE v.definition IS NOT NULL "
            "AND (CAST(:after AS text) IS NULL OR m.topic > :after) ORDER BY m.topic LIMIT :limit"
        ),
        {"after": after, "limit": limit},
    )
    return [_stored(row) for row in rows]


async def mapping_versions(
    session: AsyncSession, *, topic: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(
        sa.text(
            "SELECT version, definition::text AS definition, source, created_at, created_by "
            "FROM registry.topic_mapping_version WHERE topic = :t "
            "AND (CAST(:after AS integer) IS NULL OR version > :after) "
            "ORDER BY version LIMIT :limit"
        ),
        {"t": topic, "after": after, "limit": limit},
    )
    return [
        {
            **dict(row._mapping),
            "definition": orjson.loads(row.definition) if row.definition else None,
        }
        for row in rows
    ]


async def apply_mapping_file(session: AsyncSession, mapping: Mapping) -> list[str]:
    """The file's topics as mappings: a topic without a mapping row gets version 1; a
    topic whose current version came from the file gets a new version when the file
    changed; a topic an operator changed or removed through the API keeps the API's."""
    await session.execute(sa.text(_FILE_LOCK))
    changed: list[str] = []
    for topic, rule in mapping.topics.items():
        row = (
            await session.execute(
                sa.text(
                    "SELECT m.source, v.definition::text AS definition "
                    "FROM registry.topic_mapping m JOIN registry.topic_mapping_version v "
                    "ON v.topic = m.topic AND v.version = m.current_version WHERE m.topic = :t"
                ),
                {"t": topic},
            )
        ).first()
        if row is not None:
            if row.source != FILE:
                continue
            if (
                row.definition is not None
                and TopicMapping.model_validate(orjson.loads(row.definition)) == rule
            ):
                continue
        await _new_version(session, topic=topic, rule=rule, source=FILE, actor=FILE)
        changed.append(topic)
    if changed:
        log.info("mapping file applied to topics %s", ", ".join(changed))
    return changed
