"""Which topics and fields exist, so a rule naming an unknown one is refused.

The catalog belongs to the exchange and alerting may not read its tables. Known topics are
the union of the hub's own topics (known_topics.yaml), the topics and data items the
exchange's catalog events name (govhub_common.catalog_events: a topic is known as soon as
its creation has reached alerting, before any record) and the fields seen in record events,
all kept in alerting.known_topics.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.rules.kinds import kind_of
from govhub_alerting.rules.kinds.base import RegistryAttributes
from govhub_alerting.rules.language import AnyRule, RegistryKind
from govhub_common.catalog_events import topics_of
from govhub_common.events import CloudEvent

# The registry's subjects, kept in alerting.known_topics under these names (not topic codes:
# those have no dot) with the attributes seen in their change events.
REGISTRY_NAMES = {"legal_entity": "registry.legal_entity", "person": "registry.person"}
# The registry attributes alerting keeps a projection of unless settings say otherwise.
DEFAULT_CONTACT_ATTRIBUTES = ("mobile",)

log = logging.getLogger("govhub.alerting.catalog")

SHIPPED = Path(__file__).parent / "known_topics.yaml"
SHIPPED_REGISTRY = Path(__file__).parent / "registry_attributes.yaml"


@cache
def shipped_topics() -> dict[str, frozenset[str]]:
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    return {topic: frozenset(fields) for topic, fields in raw.items()}


@cache
def shipped_registry_attributes() -> dict[str, frozenset[str]]:
    raw = yaml.safe_load(SHIPPED_REGISTRY.read_text(encoding="utf-8"))
    return {kind: frozenset(names) for kind, names in raw.items()}


async def seen_topics(session: AsyncSession, topics: list[str]) -> dict[str, set[str]]:
    rows = await session.execute(
        sa.text("SELECT topic, fields FROM alerting.known_topics WHERE topic = ANY(:t)"),
        {"t": topics},
    )
    return {row.topic: set(row.fields) for row in rows}


async def remember_topic_fields(session: AsyncSession, topic: str, fields: set[str]) -> None:
    """Grow the known fields of a topic from a record event (one statement per event)."""
    # The UPDATE takes no row lock when nothing is new, so events of one topic do not queue.
    params = {"t": topic, "f": sorted(fields)}
    updated = await session.execute(
        sa.text(
            "UPDATE alerting.known_topics SET fields = ARRAY(SELECT DISTINCT unnest(fields || "
            "CAST(:f AS text[])) ORDER BY 1), updated_at = now() "
            "WHERE topic = :t AND NOT fields @> CAST(:f AS text[]) RETURNING 1"
        ),
        params,
    )
    if updated.first() is None:
        await session.execute(
            sa.text(
                "INSERT INTO alerting.known_topics (topic, fields, source) "
                "VALUES (:t, :f, 'seen') ON CONFLICT (topic) DO NOTHING"
            ),
            params,
        )


async def learn_catalog(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the topics and data items of an exchange catalog event, and which items are
    personal (masked in the evidence shown to agencies). Items only grow in the exchange's
    catalog, so the union is right whatever order and however often events come."""
    for topic in topics_of(event):
        items = sorted({item.name for item in topic.items})
        personal = sorted({item.name for item in topic.items if item.personal})
        await session.execute(
            sa.text(
                "INSERT INTO alerting.known_topics (topic, fields, personal, source) "
                "VALUES (:t, CAST(:f AS text[]), CAST(:p AS text[]), 'catalog') "
                "ON CONFLICT (topic) DO UPDATE SET "
                "fields = ARRAY(SELECT DISTINCT unnest(known_topics.fields || EXCLUDED.fields) "
                "ORDER BY 1), "
                "personal = ARRAY(SELECT DISTINCT unnest(known_topics.personal || "
                "EXCLUDED.personal) ORDER BY 1), source = 'catalog', updated_at = now() "
                "WHERE NOT known_topics.fields @> EXCLUDED.fields "
                "OR NOT known_topics.personal @> EXCLUDED.personal "
                "OR known_topics.source <> 'catalog'"
            ),
            {"t": topic.code, "f": items, "p": personal},
        )


async def reference_errors(
    session: AsyncSession,
    rule: AnyRule,
    *,
    contact_attributes: tuple[str, ...] = DEFAULT_CONTACT_ATTRIBUTES,
) -> list[dict[str, str]]:
    """One error per unknown topic, field or registry attribute, with the JSON path of where
    the rule names it."""
    kind = kind_of(rule)
    needed = kind.referenced_fields(rule)
    seen = await seen_topics(session, [*needed, *REGISTRY_NAMES.values()])
    known: dict[str, set[str]] = {}
    for topic in needed:
        fields = set(shipped_topics().get(topic, ())) | seen.get(topic, set())
        if fields:
            known[topic] = fields
    errors: list[dict[str, str]] = []
    for path, topic, field in kind.references(rule):
        if topic not in known:
            if field is None:
                errors.append(
                    {
                        "path": path,
                        "message": f"unknown topic {topic!r}: the exchange's catalog has not "
                        "announced it to alerting (create it at POST /exchange/v1/topics; a "
                        "topic just created is known once GET /alerting/v1/events/status "
                        "shows no backlog)",
                    }
                )
        elif field is not None and field not in known[topic]:
            errors.append(
                {
                    "path": path,
                    "message": f"topic {topic!r} has no data item {field!r} in any schema "
                    "version the exchange's catalog has announced",
                }
            )
    errors += kind.registry_errors(
        rule,
        registry_attributes=_registry_attributes(seen),
        contact_attributes=contact_attributes,
    )
    return errors


def _registry_attributes(seen: dict[str, set[str]]) -> RegistryAttributes:
    """The attributes of a registry's subjects: those shipped and those seen in its events."""

    def known(registry: RegistryKind) -> frozenset[str]:
        return shipped_registry_attributes().get(registry, frozenset()) | seen.get(
            REGISTRY_NAMES[registry], set()
        )

    return known
