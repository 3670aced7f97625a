"""Warnings worked as cases: listing, transitions with their history, silences. Plain reads
and writes, through the models (warnings/models.py, rules/models.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_alerting.engine.events import WARNING_COLUMNS, emit_warnings
from govhub_alerting.engine.models import Reminder, ReminderDelivery
from govhub_alerting.rules.models import Rule, RuleVersion
from govhub_alerting.rules.service import get_rule
from govhub_alerting.warnings.models import Silence, WarningCase, WarningStatusChange
from govhub_common.db import escape_like
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, forbidden, not_found
from govhub_common.security import Principal

# Allowed moves of a case; resolving needs a resolution.
TRANSITIONS = {
    "open": {"investigating", "resolved"},
    "investigating": {"resolved", "open"},
    "resolved": set(),
}

# Warnings are read as rows of the columns the API and the events carry (engine/events.py),
# the shape emit_warnings reads, as the engine's set-based statements return them.
# (SQLAlchemy's select for them: SQLModel's takes up to four columns.)
_WARNING = tuple(
    sa.inspect(WarningCase).columns[name.strip()] for name in WARNING_COLUMNS.split(",")
)

_SILENCE = (
    col(Silence.id),
    col(Silence.rule_id),
    col(Silence.subject),
    col(Silence.until),
    col(Silence.reason),
    col(Silence.created_by),
    col(Silence.created_at),
)


def visible_agency(principal: Principal, requested: str | None) -> str | None:
    """Operators see every agency's warnings; an agency only those assigned to it."""
    if principal.is_operator:
        return requested
    if requested is not None and requested != principal.agency:
        raise forbidden(f"agency {principal.agency} may only read warnings assigned to it")
    return principal.agency


async def list_warnings(
    session: AsyncSession,
    *,
    agency: str | None,
    rule_id: str | None,
    status: str | None,
    raised_from: date | None,
    raised_to: date | None,
    subject: str | None,
    after: int | None,
    limit: int,
    subject_key: str | None = None,
    newest_first: bool = False,
) -> list[Any]:
    """Up to `limit` warnings by id, after the warning `after`, as filtered: oldest first
    (ids grow with raised_at), or newest first (then `after` is the last of the page before,
    and the next page holds lower ids)."""
    statement = sa.select(*_WARNING)
    for column, value in (
        (col(WarningCase.assigned_agency), agency),
        (col(WarningCase.rule_id), rule_id),
        (col(WarningCase.status), status),
        (col(WarningCase.subject), subject),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if subject_key is not None:
        # A duplicate rule's subject is the key, then each `same` field, joined by `/`
        # (household/item): the key is what comes before them. Other rules' subjects are
        # the key itself, whatever characters it holds.
        statement = statement.where(
            sa.or_(
                col(WarningCase.subject) == subject_key,
                sa.and_(
                    col(WarningCase.kind) == "duplicate",
                    col(WarningCase.subject).like(escape_like(subject_key) + "/%", escape="\\"),
                ),
            )
        )
    # Dates are business dates (Asia/Shanghai) of raised_at.
    raised_on = sa.cast(
        col(WarningCase.raised_at).op("AT TIME ZONE")(sa.literal_column("'Asia/Shanghai'")),
        sa.Date,
    )
    if raised_from is not None:
        statement = statement.where(raised_on >= raised_from)
    if raised_to is not None:
        statement = statement.where(raised_on <= raised_to)
    if newest_first:
        if after is not None:
            statement = statement.where(col(WarningCase.id) < after)
        statement = statement.order_by(col(WarningCase.id).desc())
    else:
        if after is not None:
            statement = statement.where(col(WarningCase.id) > after)
        statement = statement.order_by(col(WarningCase.id))
    rows = await session.execute(statement.limit(limit))
    return list(rows)


async def get_warning(
    session: AsyncSession, *, warning_id: int, principal: Principal, lock: bool = False
) -> Any:
    statement = sa.select(*_WARNING).where(col(WarningCase.id) == warning_id)
    if lock:
        statement = statement.with_for_update()
    row = (await session.execute(statement)).first()
    # An agency is told "not found" for others' warnings, so ids reveal nothing.
    if row is None or not (principal.is_operator or row.assigned_agency == principal.agency):
        raise not_found("warning", warning_id)
    return row


async def history(session: AsyncSession, *, warning_id: int) -> list[Any]:
    rows = await session.execute(
        sa.select(
            col(WarningStatusChange.from_status),
            col(WarningStatusChange.to_status),
            col(WarningStatusChange.resolution),
            col(WarningStatusChange.note),
            col(WarningStatusChange.actor),
            col(WarningStatusChange.at),
        )
        .where(col(WarningStatusChange.warning_id) == warning_id)
        .order_by(col(WarningStatusChange.id))
    )
    return list(rows)


async def reminders(session: AsyncSession, *, warning: Any) -> list[Any]:
    """The reminders emitted for the warning's rule, subject and trigger date, oldest first,
    with the SMS gateway's last status of each."""
    rows: sa.Result[Any] = await session.execute(
        sa.select(
            col(Reminder.idempotency_key),
            col(Reminder.template),
            col(Reminder.recipient),
            col(Reminder.due_at),
            col(Reminder.emitted_at),
            col(ReminderDelivery.status),
            col(ReminderDelivery.reason),
            col(ReminderDelivery.changed_at).label("status_changed_at"),
        )
        .outerjoin(
            ReminderDelivery,
            col(ReminderDelivery.idempotency_key) == col(Reminder.idempotency_key),
        )
        .where(
            col(Reminder.rule_id) == warning.rule_id,
            col(Reminder.subject) == warning.subject,
            col(Reminder.trigger_date) == warning.trigger_date,
        )
        .order_by(col(Reminder.due_at), col(Reminder.idempotency_key))
    )
    return list(rows)


async def transition(
    session: AsyncSession,
    *,
    warning_id: int,
    principal: Principal,
    status: str,
    resolution: str | None,
    note: str | None,
    now: datetime,
) -> Any:
    current = await get_warning(session, warning_id=warning_id, principal=principal, lock=True)
    if status not in TRANSITIONS[current.status]:
        raise Problem(
            ProblemCode.INVALID_TRANSITION,
            f"a warning in status {current.status} cannot move to {status}",
            errors=[{"path": "$.status", "message": f"not allowed from {current.status}"}],
        )
    if status == "resolved" and resolution is None:
        raise Problem(
            ProblemCode.VALIDATION_FAILED,
            "resolving a warning needs a resolution",
            errors=[{"path": "$.resolution", "message": "required when status is resolved"}],
        )
    if status != "resolved" and resolution is not None:
        raise Problem(
            ProblemCode.VALIDATION_FAILED,
            "a resolution is given only when resolving",
            errors=[{"path": "$.resolution", "message": "only with status resolved"}],
        )
    # A person acting through the console is named as such; an integration by its client.
    actor = principal.actor
    if principal.person is None and principal.client_id:
        actor = f"{principal.agency}/{principal.client_id}"
    # The warning is locked (get_warning above): its new status, then the history row.
    row = (
        await session.execute(
            sa.update(WarningCase)
            .where(col(WarningCase.id) == warning_id)
            .values(
                status=status,
                resolution=resolution,
                note=sa.func.coalesce(note, col(WarningCase.note)),
                updated_at=sa.func.now(),
                resolved_at=now if status == "resolved" else None,
            )
            .returning(*_WARNING)
            # The UPDATE as written, no RETURNING added to sync the session: warnings are
            # read as rows, never as objects the session keeps.
            .execution_options(synchronize_session=False)
        )
    ).one()
    await session.execute(
        insert(WarningStatusChange).values(
            warning_id=warning_id,
            from_status=current.status,
            to_status=status,
            resolution=resolution,
            note=note,
            actor=actor,
            at=now,
        )
    )
    if status == "resolved":
        await emit_warnings(session, resolved=[row])
    return row


async def create_silence(
    session: AsyncSession,
    *,
    principal: Principal,
    rule_id: str,
    subject: str,
    until: date,
    reason: str,
) -> Any:
    stored = await get_rule(session, rule_id=rule_id)
    if not (principal.is_operator or stored.rule.assigned_agency == principal.agency):
        raise forbidden(
            f"only operators and {stored.rule.assigned_agency} may silence rule {rule_id}"
        )
    return (
        await session.execute(
            insert(Silence)
            .values(
                rule_id=rule_id,
                subject=subject,
                until=until,
                reason=reason,
                created_by=principal.actor,
            )
            .returning(*_SILENCE)
        )
    ).one()


async def list_silences(
    session: AsyncSession,
    *,
    principal: Principal,
    rule_id: str | None,
    after: int | None = None,
    limit: int | None = None,
) -> list[Any]:
    """Up to `limit` silences by id, after the silence `after`."""
    statement = sa.select(*_SILENCE)
    if rule_id is not None:
        statement = statement.where(col(Silence.rule_id) == rule_id)
    if after is not None:
        statement = statement.where(col(Silence.id) > after)
    if not principal.is_operator:
        # Silences of the rules assigned to the calling agency (by the rule's current version).
        statement = statement.where(
            sa.exists().where(
                col(Rule.id) == col(Silence.rule_id),
                col(RuleVersion.rule_id) == col(Rule.id),
                col(RuleVersion.version) == col(Rule.current_version),
                col(RuleVersion.definition)["assigned_agency"].astext == principal.agency,
            )
        )
    # limit None: every silence (LIMIT NULL before).
    rows = await session.execute(statement.order_by(col(Silence.id)).limit(limit))
    return list(rows)
