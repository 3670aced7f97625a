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

from govhub_alerting.rules.language import AbsenceRule, AnyRule, DuplicateRule, referenced_fields
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
    """Keep the topics and data items of an exchange catalog event. Items only grow in the
    exchange's catalog, so the union is right whatever order and however often events come."""
    for topic in topics_of(event):
        items = sorted({item.name for item in topic.items})
        await session.execute(
            sa.text(
                "INSERT INTO alerting.known_topics (topic, fields, source) "
                "VALUES (:t, CAST(:f AS text[]), 'catalog') ON CONFLICT (topic) DO UPDATE SET "
                "fields = ARRAY(SELECT DISTINCT unnest(known_topics.fields || EXCLUDED.fields) "
                "ORDER BY 1), source = 'catalog', updated_at = now() "
                "WHERE NOT known_topics.fields @> EXCLUDED.fields "
                "OR known_topics.source <> 'catalog'"
            ),
            {"t": topic.code, "f": items},
        )


async def reference_errors(
    session: AsyncSession,
    rule: AnyRule,
    *,
    contact_attributes: tuple[str, ...] = DEFAULT_CONTACT_ATTRIBUTES,
) -> list[dict[str, str]]:
    """One error per unknown topic, field or registry attribute, with the JSON path of where
    the rule names it."""
    needed = referenced_fields(rule)
    seen = await seen_topics(session, [*needed, *REGISTRY_NAMES.values()])
    known: dict[str, set[str]] = {}
    for topic in needed:
        fields = set(shipped_topics().get(topic, ())) | seen.get(topic, set())
        if fields:
            known[topic] = fields
    errors: list[dict[str, str]] = []
    for path, topic, field in _references(rule):
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
    if isinstance(rule, AbsenceRule):
        errors += _registry_errors(rule, seen, contact_attributes)
    return errors


def _registry_errors(
    rule: AbsenceRule, seen: dict[str, set[str]], contact_attributes: tuple[str, ...]
) -> list[dict[str, str]]:
    """A reminder's registry attribute must be one the registry has and alerting keeps."""
    errors: list[dict[str, str]] = []
    for i, reminder in enumerate(rule.reminders):
        attribute = reminder.registry_attribute
        if attribute is None:
            continue
        path = f"$.reminders[{i}].recipient"
        kind = rule.reminder_registry(reminder)
        if kind is None:
            errors.append(
                {
                    "path": f"{path}.registry",
                    "message": f"the trigger key {rule.trigger.key!r} is neither uscc nor "
                    "id_number: say which registry (legal_entity or person)",
                }
            )
            continue
        known = shipped_registry_attributes().get(kind, frozenset()) | seen.get(
            REGISTRY_NAMES[kind], set()
        )
        if attribute not in known:
            errors.append(
                {
                    "path": f"{path}.registry_attribute",
                    "message": f"unknown registry attribute {attribute!r} of {kind}",
                }
            )
        elif attribute not in contact_attributes:
            errors.append(
                {
                    "path": f"{path}.registry_attribute",
                    "message": f"registry attribute {attribute!r} is not one alerting keeps "
                    f"(GOVHUB_ALERTING_REGISTRY_ATTRIBUTES: {', '.join(contact_attributes)})",
                }
            )
    return errors


def _references(rule: AnyRule) -> list[tuple[str, str, str | None]]:
    """(JSON path, topic, field or None for the topic itself) for everything a rule names."""
    out: list[tuple[str, str, str | None]] = []

    def spec(path: str, topic: str, key: str, date: str) -> None:
        out.append((f"{path}.topic", topic, None))
        out.append((f"{path}.key", topic, key))
        out.append((f"{path}.date", topic, date))

    if isinstance(rule, AbsenceRule):
        trigger = rule.trigger
        spec("$.trigger", trigger.topic, trigger.key, trigger.date)
        for name in trigger.filter or {}:
            out.append((f"$.trigger.filter.{name}", trigger.topic, name))
        for i, expected in enumerate(rule.expected):
            spec(f"$.expected[{i}]", expected.topic, expected.key, expected.date)
        for i, reminder in enumerate(rule.reminders):
            if reminder.recipient_field:
                out.append(
                    (f"$.reminders[{i}].recipient_field", trigger.topic, reminder.recipient_field)
                )
            elif reminder.field:
                out.append((f"$.reminders[{i}].recipient.field", trigger.topic, reminder.field))
            for param, source in reminder.params.items():
                if not source.startswith("$"):
                    out.append((f"$.reminders[{i}].params.{param}", trigger.topic, source))
    elif isinstance(rule, DuplicateRule):
        for i, record in enumerate(rule.records):
            spec(f"$.records[{i}]", record.topic, record.key, record.date)
            for j, name in enumerate(rule.same):
                out.append((f"$.same[{j}]", record.topic, name))
    else:
        for i, record in enumerate(rule.forbidding):
            spec(f"$.forbidding[{i}]", record.topic, record.key, record.date)
        for i, record in enumerate(rule.forbidden):
            spec(f"$.forbidden[{i}]", record.topic, record.key, record.date)
    return out
