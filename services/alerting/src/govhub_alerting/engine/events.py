"""The events alerting emits: one per batch of warnings or reminders (docs/contracts.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.metrics import REMINDERS_DUE, WARNINGS_RAISED, WARNINGS_RESOLVED
from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events

SOURCE = "govhub/alerting"
SCHEMA = "alerting"

# The columns of alerting.warnings a warning event and the API carry.
WARNING_COLUMNS = (
    "id, rule_id, rule_version, kind, title, severity, subject, assigned_agency, status, "
    "resolution, note, trigger_date, due_date, raised_at, resolved_at, updated_at, evidence"
)


# Warnings or reminders per event: a batch, yet a message the broker carries comfortably.
EVENT_SIZE = 1000


def _chunks(rows: Sequence[Any]) -> list[Sequence[Any]]:
    return [rows[i : i + EVENT_SIZE] for i in range(0, len(rows), EVENT_SIZE)]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def warning_payload(row: Any) -> dict[str, Any]:
    m = row._mapping if hasattr(row, "_mapping") else row
    return {
        "id": m["id"],
        "rule_id": m["rule_id"],
        "rule_version": m["rule_version"],
        "title": m["title"],
        "severity": m["severity"],
        "subject": m["subject"],
        "assigned_agency": m["assigned_agency"],
        "status": m["status"],
        "resolution": m["resolution"],
        "raised_at": _iso(m["raised_at"]),
        "resolved_at": _iso(m["resolved_at"]),
        "due_date": _iso(m["due_date"]),
        "evidence": m["evidence"],
    }


async def emit_warnings(
    session: AsyncSession,
    *,
    raised: Sequence[Any] = (),
    resolved: Sequence[Any] = (),
) -> None:
    """Stage one event for the raised and one for the resolved warnings of a batch (a
    backfill's tens of thousands go out in events of EVENT_SIZE)."""
    events = []
    for type_, rows in (
        ("alerting.warning.raised", raised),
        ("alerting.warning.resolved", resolved),
    ):
        for chunk in _chunks(rows):
            events.append(
                CloudEvent(
                    source=SOURCE,
                    type=type_,
                    subject=f"{len(chunk)} warnings",
                    data={"warnings": [warning_payload(w) for w in chunk]},
                )
            )
    await add_events(session, SCHEMA, events)
    for w in raised:
        WARNINGS_RAISED.labels(w.rule_id).inc()
    for w in resolved:
        WARNINGS_RESOLVED.labels(w.rule_id, w.resolution or "other").inc()


async def emit_reminders(session: AsyncSession, reminders: Sequence[dict[str, Any]]) -> None:
    if not reminders:
        return
    await add_events(
        session,
        SCHEMA,
        [
            CloudEvent(
                source=SOURCE,
                type="alerting.reminder.due",
                subject=f"{len(chunk)} reminders",
                data={"reminders": list(chunk)},
            )
            for chunk in _chunks(reminders)
        ],
    )
    for r in reminders:
        REMINDERS_DUE.labels(r["rule_id"]).inc()
