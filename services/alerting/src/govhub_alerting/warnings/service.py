"""Warnings worked as cases: listing, transitions with their history, silences."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.events import WARNING_COLUMNS, emit_warnings
from govhub_alerting.rules.service import get_rule
from govhub_common.db import escape_like
from govhub_common.problems import Problem, forbidden, not_found
from govhub_common.security import Principal

# Allowed moves of a case; resolving needs a resolution.
TRANSITIONS = {
    "open": {"investigating", "resolved"},
    "investigating": {"resolved", "open"},
    "resolved": set(),
}


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
) -> list[Any]:
    """Up to `limit` warnings by id, after the warning `after`, as filtered."""
    conditions = ["true"]
    params: dict[str, Any] = {"limit": limit}
    for column, value in (
        ("assigned_agency", agency),
        ("rule_id", rule_id),
        ("status", status),
        ("subject", subject),
    ):
        if value is not None:
            conditions.append(f"{column} = :{column}")
            params[column] = value
    if subject_key is not None:
        # A duplicate rule's subject is the key, then each `same` field, joined by `/`
        # (household/item): the key is what comes before them. Other rules' subjects are
        # the key itself, whatever characters it holds.
        conditions.append(
            "(subject = :subject_key OR (kind = 'duplicate' "
            "AND subject LIKE :subject_key_parts ESCAPE '\\'))"
        )
        params["subject_key"] = subject_key
        params["subject_key_parts"] = escape_like(subject_key) + "/%"
    # Dates are business dates (Asia/Shanghai) of raised_at.
    if raised_from is not None:
        conditions.append("(raised_at AT TIME ZONE 'Asia/Shanghai')::date >= :raised_from")
        params["raised_from"] = raised_from
    if raised_to is not None:
        conditions.append("(raised_at AT TIME ZONE 'Asia/Shanghai')::date <= :raised_to")
        params["raised_to"] = raised_to
    if after is not None:
        conditions.append("id > :after")
        params["after"] = after
    return list(
        await session.execute(
            sa.text(
                f"SELECT {WARNING_COLUMNS} FROM alerting.warnings WHERE "
                + " AND ".join(conditions)
                + " ORDER BY id LIMIT :limit"
            ),
            params,
        )
    )


async def get_warning(
    session: AsyncSession, *, warning_id: int, principal: Principal, lock: bool = False
) -> Any:
    row = (
        await session.execute(
            sa.text(
                f"SELECT {WARNING_COLUMNS} FROM alerting.warnings WHERE id = :id"
                + (" FOR UPDATE" if lock else "")
            ),
            {"id": warning_id},
        )
    ).first()
    # An agency is told "not found" for others' warnings, so ids reveal nothing.
    if row is None or not (principal.is_operator or row.assigned_agency == principal.agency):
        raise not_found("warning", warning_id)
    return row


async def history(session: AsyncSession, *, warning_id: int) -> list[Any]:
    return list(
        await session.execute(
            sa.text(
                "SELECT from_status, to_status, resolution, note, actor, at "
                "FROM alerting.warning_history WHERE warning_id = :id ORDER BY id"
            ),
            {"id": warning_id},
        )
    )


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
            409,
            "invalid_transition",
            f"a warning in status {current.status} cannot move to {status}",
            errors=[{"path": "$.status", "message": f"not allowed from {current.status}"}],
        )
    if status == "resolved" and resolution is None:
        raise Problem(
            422,
            "validation_failed",
            "resolving a warning needs a resolution",
            errors=[{"path": "$.resolution", "message": "required when status is resolved"}],
        )
    if status != "resolved" and resolution is not None:
        raise Problem(
            422,
            "validation_failed",
            "a resolution is given only when resolving",
            errors=[{"path": "$.resolution", "message": "only with status resolved"}],
        )
    actor = f"{principal.agency}" + (f"/{principal.client_id}" if principal.client_id else "")
    row = (
        await session.execute(
            sa.text(
                f"""
                WITH updated AS (
                    UPDATE alerting.warnings SET status = :status, resolution = :resolution,
                        note = coalesce(:note, note), updated_at = now(),
                        resolved_at = CASE WHEN CAST(:status AS text) = 'resolved'
                            THEN CAST(:now AS timestamptz) END
                    WHERE id = :id RETURNING *
                ), logged AS (
                    INSERT INTO alerting.warning_history
                        (warning_id, from_status, to_status, resolution, note, actor, at)
                    SELECT id, :from_status, :status, :resolution, :note, :actor, :now
                    FROM updated
                )
                SELECT {WARNING_COLUMNS} FROM updated
                """
            ),
            {
                "id": warning_id,
                "status": status,
                "resolution": resolution,
                "note": note,
                "now": now,
                "actor": actor,
                "from_status": current.status,
            },
        )
    ).one()
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
            sa.text(
                "INSERT INTO alerting.silences (rule_id, subject, until, reason, created_by) "
                "VALUES (:r, :s, :u, :reason, :by) "
                "RETURNING id, rule_id, subject, until, reason, created_by, created_at"
            ),
            {"r": rule_id, "s": subject, "u": until, "reason": reason, "by": principal.agency},
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
    params: dict[str, Any] = {"rule": rule_id, "after": after, "limit": limit}
    agency_filter = ""
    if not principal.is_operator:
        # Silences of the rules assigned to the calling agency.
        agency_filter = (
            " AND EXISTS (SELECT 1 FROM alerting.rules r JOIN alerting.rule_versions v "
            "ON v.rule_id = r.id AND v.version = r.current_version WHERE r.id = s.rule_id "
            "AND v.definition->>'assigned_agency' = :agency)"
        )
        params["agency"] = principal.agency
    return list(
        await session.execute(
            sa.text(
                "SELECT id, rule_id, subject, until, reason, created_by, created_at "
                "FROM alerting.silences s WHERE (CAST(:rule AS text) IS NULL OR rule_id = :rule) "
                "AND (CAST(:after AS bigint) IS NULL OR id > :after)"
                + agency_filter
                + " ORDER BY id LIMIT :limit"
            ),
            params,
        )
    )
