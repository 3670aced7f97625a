"""The registry's contact attributes of each subject, as alerting last heard of them.

A reminder may be sent to the subject's current mobile in the registry rather than the one
on the trigger record. Alerting never reads the registry's tables: it keeps its own
projection from `registry.legal_entity.changed` / `registry.person.changed`, whose items carry
the changed attributes' current values. Only the attributes of
GOVHUB_ALERTING_REGISTRY_ATTRIBUTES are kept (the contacts, `mobile` by default): a reminder's
recipient is a contact, and keeping every subject's contacts from the start means a rule
written later finds them all, where keeping only what today's rules name would leave a new
rule without the subjects that have not changed since.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.rules.catalog import REGISTRY_NAMES, remember_topic_fields
from govhub_common.event_contracts import read_batch
from govhub_common.event_contracts.registry import (
    LegalEntitiesChanged,
    LegalEntityChange,
    PersonChange,
    PersonsChanged,
    SubjectChange,
)
from govhub_common.events import CloudEvent

log = logging.getLogger("govhub.alerting.contacts")

# Event type -> (registry, its contract, the list in its data, an item's contract, its key)
CHANGE_EVENTS: dict[str, tuple[str, type[BaseModel], str, type[SubjectChange], str]] = {
    "registry.legal_entity.changed": (
        "legal_entity",
        LegalEntitiesChanged,
        "entities",
        LegalEntityChange,
        "uscc",
    ),
    "registry.person.changed": ("person", PersonsChanged, "persons", PersonChange, "id_number"),
}

# The newest change wins: a change event redelivered or replayed after a newer one does not
# bring an old mobile back. Events about one subject are emitted one after the other (the
# registry locks the subject), so their times order them; seq breaks a tie.
UPSERT = """
INSERT INTO alerting.registry_contacts AS c
    (registry, subject, attribute, value, changed_at, seq, source_agency)
SELECT :registry, s, a, v, :changed_at, q, g
FROM unnest(CAST(:subjects AS text[]), CAST(:attributes AS text[]), CAST(:vals AS text[]),
            CAST(:seqs AS bigint[]), CAST(:agencies AS text[])) AS r(s, a, v, q, g)
ON CONFLICT (registry, subject, attribute) DO UPDATE
    SET value = excluded.value, changed_at = excluded.changed_at, seq = excluded.seq,
        source_agency = excluded.source_agency, updated_at = now()
    WHERE (excluded.changed_at, coalesce(excluded.seq, 0)) > (c.changed_at, coalesce(c.seq, 0))
"""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


async def ingest_registry_change(
    session: AsyncSession, event: CloudEvent, *, attributes: Collection[str]
) -> int:
    """The consumer's effect for one change event (in the inbox transaction): the kept
    attributes' values go into the projection in one statement. Returns the values kept."""
    if event.type not in CHANGE_EVENTS:
        return 0
    registry, contract, list_name, item_contract, key = CHANGE_EVENTS[event.type]
    changes = read_batch(event, contract, list_name, item_contract)
    if changes.faults:
        log.warning(
            "event %s: %d changes skipped: %s", event.id, len(changes.faults), changes.faults[0]
        )
    seen: set[str] = set()
    # One row per subject and attribute (the last item wins within an event).
    rows: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
    for item in changes.items:
        seen.update(item.attributes)
        subject = str(getattr(item, key))
        for name in attributes:
            if name in item.values:
                rows[(subject, name)] = (_text(item.values[name]), item.seq, item.source_agency)
    if seen:
        await remember_topic_fields(session, REGISTRY_NAMES[registry], seen)
    if not rows:
        return 0
    await session.execute(
        sa.text(UPSERT),
        {
            "registry": registry,
            "changed_at": event.time,
            "subjects": [s for s, _ in rows],
            "attributes": [a for _, a in rows],
            "vals": [v for v, _, _ in rows.values()],
            "seqs": [q for _, q, _ in rows.values()],
            "agencies": [g for _, _, g in rows.values()],
        },
    )
    return len(rows)
