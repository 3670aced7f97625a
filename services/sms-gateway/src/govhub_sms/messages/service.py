"""Messages: accepted with an idempotency key, rendered once, then left to the sender."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import ensure_utc
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found
from govhub_sms.events import StatusChange, record_status_changes
from govhub_sms.messages.schemas import MessageCreate, MessagePublic, StatusPublic
from govhub_sms.metrics import FAILED
from govhub_sms.templates.rendering import TemplateTextError
from govhub_sms.templates.service import templates_by_code

_COLUMNS = (
    "id::text AS id, agency, idempotency_key, request_hash, recipient, template_code, params, "
    "text, encoding, segments, status, reason, not_before, next_attempt_at, expires_at, "
    "provider, provider_message_id, created_at, updated_at, seq"
)


MAX_SCHEDULE_AHEAD = timedelta(days=366)


@dataclass
class Submission:
    """One message to accept: its input and where it sits in the request (for error paths)."""

    data: MessageCreate
    idempotency_key: str
    path: str = "$"
    due_at: datetime | None = None
    """When the message is due (a reminder's due_at); default: when it is accepted."""


@dataclass
class SubmitOutcome:
    outcome: str  # created, existing, rejected, conflict
    row: Any = None
    """The stored message (a row mapping; `public(row)` gives the API shape)."""
    errors: list[dict[str, Any]] = field(default_factory=list)
    problem: ProblemCode = ProblemCode.VALIDATION_FAILED
    """The problem code (its status is the catalogue's) a refusal of one message is answered
    with: what the request's schema cannot say is a state's (404 no such template; 409 an
    inactive template, or parameters that are not the template's)."""


def request_hash(data: MessageCreate) -> str:
    canonical = orjson.dumps(
        {
            "recipient": data.recipient,
            "template": data.template,
            "params": data.params,
            "not_before": ensure_utc(data.not_before).isoformat() if data.not_before else None,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def public_status(status: str) -> Any:
    """'sending' is the sender's claim; clients see it as queued."""
    return "queued" if status == "sending" else status


def public(row: Any, history: Sequence[Any] | None = None) -> MessagePublic:
    status = public_status(row["status"])
    return MessagePublic(
        id=row["id"],
        agency=row["agency"],
        idempotency_key=row["idempotency_key"],
        recipient=row["recipient"],
        template=row["template_code"],
        params=row["params"],
        text=row["text"],
        encoding=row["encoding"],
        segments=row["segments"],
        status=status,
        reason=row["reason"],
        not_before=row["not_before"],
        next_attempt_at=row["next_attempt_at"] if status in ("queued", "deferred") else None,
        expires_at=row["expires_at"],
        provider=row["provider"],
        provider_message_id=row["provider_message_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        history=[
            StatusPublic(
                status=h["status"],
                reason=h["reason"],
                provider=h["provider"],
                changed_at=h["changed_at"],
            )
            for h in history
        ]
        if history is not None
        else None,
    )


async def submit_messages(
    session: AsyncSession,
    *,
    agency: str,
    submissions: Sequence[Submission],
    as_of: datetime,
    ttl: timedelta,
) -> list[SubmitOutcome]:
    """Render and store a batch in a few statements. Each key takes effect once: a repeat
    with the same content returns the stored message, with other content a conflict."""
    outcomes = [SubmitOutcome("rejected") for _ in submissions]
    templates = await templates_by_code(session, codes=[s.data.template for s in submissions])
    rows: list[dict[str, Any]] = []
    for i, sub in enumerate(submissions):
        template = templates.get(sub.data.template)
        if template is None or not template.active:
            outcomes[i].problem = (
                ProblemCode.NOT_FOUND if template is None else ProblemCode.CONFLICT
            )
            outcomes[i].errors.append(
                {
                    "path": f"{sub.path}.template",
                    "message": f"unknown template {sub.data.template!r}"
                    if template is None
                    else f"template {sub.data.template!r} is inactive",
                }
            )
            continue
        try:
            rendered = template.render(sub.data.params, path=f"{sub.path}.params")
        except TemplateTextError as exc:
            outcomes[i].problem = ProblemCode.CONFLICT
            outcomes[i].errors += [{"path": p, "message": m} for p, m in exc.errors]
            continue
        not_before = ensure_utc(sub.data.not_before) if sub.data.not_before else None
        if not_before is not None and not_before > as_of + MAX_SCHEDULE_AHEAD:
            outcomes[i].errors.append(
                {"path": f"{sub.path}.not_before", "message": "at most one year ahead"}
            )
            continue
        due = ensure_utc(sub.due_at) if sub.due_at else as_of
        start = max(due, not_before) if not_before else due
        rows.append(
            {
                "index": i,
                "id": str(uuid.uuid4()),
                "key": sub.idempotency_key,
                "hash": request_hash(sub.data),
                "recipient": sub.data.recipient,
                "template": template.code,
                "version": template.version,
                "category": template.category,
                "opt_out": template.opt_out_allowed,
                "params": orjson.dumps(sub.data.params).decode(),
                "text": rendered.text,
                "encoding": rendered.segments.encoding,
                "segments": rendered.segments.segments,
                "not_before": not_before,
                "next_attempt_at": start,
                # a late reminder still gets its full validity from now
                "expires_at": max(start, as_of) + ttl,
            }
        )
    # The same key twice in one batch: the first wins, the rest compare against it.
    first_by_key: dict[str, dict[str, Any]] = {}
    unique_rows = []
    for row in rows:
        if row["key"] not in first_by_key:
            first_by_key[row["key"]] = row
            unique_rows.append(row)
    inserted: set[str] = set()
    if unique_rows:
        cols = [
            ("id", "uuid"),
            ("key", "text"),
            ("hash", "text"),
            ("recipient", "text"),
            ("template", "text"),
            ("version", "int"),
            ("category", "text"),
            ("opt_out", "boolean"),
            ("params", "jsonb"),
            ("text", "text"),
            ("encoding", "text"),
            ("segments", "int"),
            ("not_before", "timestamptz"),
            ("next_attempt_at", "timestamptz"),
            ("expires_at", "timestamptz"),
        ]
        unnest = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in cols)
        result = await session.execute(
            sa.text(
                "INSERT INTO sms.messages (id, idempotency_key, request_hash, recipient, "
                "template_code, template_version, category, opt_out_applies, params, text, "
                "encoding, segments, not_before, next_attempt_at, expires_at, agency, status, "
                "created_at, updated_at) "
                f"SELECT u.*, :agency, 'queued', :now, :now FROM unnest({unnest}) AS u "
                "ON CONFLICT (agency, idempotency_key) DO NOTHING RETURNING idempotency_key"
            ),
            {
                **{name: [r[name] for r in unique_rows] for name, _ in cols},
                "agency": agency,
                "now": as_of,
            },
        )
        inserted = {r[0] for r in result}
    stored = await _by_keys(session, agency=agency, keys=list(first_by_key))
    seen_new: set[str] = set()
    changes = []
    for row in rows:
        i = row["index"]
        existing = stored[row["key"]]
        if existing["request_hash"] != row["hash"]:
            outcomes[i].errors.append(
                {
                    "path": f"{submissions[i].path}",
                    "message": "this Idempotency-Key was used for a different message",
                }
            )
            outcomes[i].outcome = "conflict"
            continue
        created = row["key"] in inserted and row["key"] not in seen_new
        seen_new.add(row["key"])
        outcomes[i].outcome = "created" if created else "existing"
        outcomes[i].row = existing
        if created:
            changes.append(
                StatusChange(existing["id"], row["key"], row["template"], "queued", None, as_of)
            )
    await record_status_changes(session, changes)
    return outcomes


async def _by_keys(session: AsyncSession, *, agency: str, keys: list[str]) -> dict[str, Any]:
    if not keys:
        return {}
    result = await session.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM sms.messages WHERE agency = :agency "
            "AND idempotency_key = ANY(:keys)"
        ),
        {"agency": agency, "keys": keys},
    )
    return {row["idempotency_key"]: row for row in result.mappings()}


async def get_message(
    session: AsyncSession, *, message_id: str, agency: str | None
) -> MessagePublic:
    """One message with its history; `agency` None means an operator (sees everything)."""
    try:
        uuid.UUID(message_id)
    except ValueError:
        raise not_found("message", message_id) from None
    row = (
        (
            await session.execute(
                sa.text(f"SELECT {_COLUMNS} FROM sms.messages WHERE id = :id"), {"id": message_id}
            )
        )
        .mappings()
        .first()
    )
    if row is None or (agency is not None and row["agency"] != agency):
        raise not_found("message", message_id)
    history = (
        await session.execute(
            sa.text(
                "SELECT status, reason, provider, changed_at FROM sms.message_history "
                "WHERE message_id = :id ORDER BY id"
            ),
            {"id": message_id},
        )
    ).mappings()
    return public(row, list(history))


async def list_messages(
    session: AsyncSession,
    *,
    agency: str | None,
    status: str | None,
    template: str | None,
    recipient: str | None,
    idempotency_key: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    after: int | None,
    limit: int,
) -> list[Any]:
    """Messages (rows; `public(row)` gives the API shape) in the order they were accepted,
    after the one whose seq is `after`: up to limit + 1."""
    where = ["true"]
    params: dict[str, Any] = {"limit": limit + 1}
    filters = {
        "agency": agency,
        "template_code": template,
        "recipient": recipient,
        "idempotency_key": idempotency_key,
    }
    for column, value in filters.items():
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    if status is not None:
        # 'sending' is the sender's claim; clients see it as queued.
        where.append("status = ANY(:statuses)")
        params["statuses"] = ["queued", "sending"] if status == "queued" else [status]
    if created_from is not None:
        where.append("created_at >= :created_from")
        params["created_from"] = ensure_utc(created_from)
    if created_to is not None:
        where.append("created_at < :created_to")
        params["created_to"] = ensure_utc(created_to)
    if after is not None:
        where.append("seq > :after")
        params["after"] = after
    rows = list(
        (
            await session.execute(
                sa.text(
                    f"SELECT {_COLUMNS} FROM sms.messages WHERE {' AND '.join(where)} "
                    "ORDER BY seq LIMIT :limit"
                ),
                params,
            )
        ).mappings()
    )
    return rows


async def resend_message(
    session: AsyncSession, *, message_id: str, as_of: datetime, ttl: timedelta
) -> MessagePublic:
    """An operator's explicit resend of a failed, expired or ambiguous message (the
    sender never repeats an ambiguous submit by itself)."""
    try:
        uuid.UUID(message_id)
    except ValueError:
        raise not_found("message", message_id) from None
    row = (
        (
            await session.execute(
                sa.text(
                    "UPDATE sms.messages SET status = 'queued', reason = 'resent by an operator', "
                    "attempts = 0, provider_index = 0, provider = NULL, provider_message_id = NULL, "
                    "sent_on = NULL, next_attempt_at = :now, expires_at = :expires, "
                    "handed_at = NULL, acked_at = NULL, "
                    "updated_at = :now WHERE id = CAST(:id AS uuid) "
                    "AND status IN ('failed', 'expired', 'ambiguous') "
                    "RETURNING id::text AS id, idempotency_key, template_code"
                ),
                {"id": message_id, "now": as_of, "expires": as_of + ttl},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        await get_message(session, message_id=message_id, agency=None)  # 404 if absent
        raise Problem(
            ProblemCode.CONFLICT, "only failed, expired or ambiguous messages can be resent"
        )
    await record_status_changes(
        session,
        [
            StatusChange(
                row["id"],
                row["idempotency_key"],
                row["template_code"],
                "queued",
                "resent by an operator",
                as_of,
            )
        ],
    )
    return await get_message(session, message_id=message_id, agency=None)


async def abandon_message(
    session: AsyncSession, *, message_id: str, as_of: datetime, why: str | None
) -> MessagePublic:
    """An operator's decision that an ambiguous message is not to be sent again: it ends
    `failed`, the reason saying so (and the carrier may still have delivered it)."""
    try:
        uuid.UUID(message_id)
    except ValueError:
        raise not_found("message", message_id) from None
    reason = "abandoned by an operator" + (f": {why}" if why else "")
    row = (
        (
            await session.execute(
                sa.text(
                    "UPDATE sms.messages SET status = 'failed', reason = :reason, "
                    "updated_at = :now WHERE id = CAST(:id AS uuid) AND status = 'ambiguous' "
                    "RETURNING id::text AS id, idempotency_key, template_code, provider"
                ),
                {"id": message_id, "now": as_of, "reason": reason},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        await get_message(session, message_id=message_id, agency=None)  # 404 if absent
        raise Problem(ProblemCode.CONFLICT, "only ambiguous messages can be abandoned")
    FAILED.labels(row["provider"] or "unknown", row["template_code"]).inc()
    await record_status_changes(
        session,
        [
            StatusChange(
                row["id"],
                row["idempotency_key"],
                row["template_code"],
                "failed",
                reason,
                as_of,
                row["provider"],
            )
        ],
    )
    return await get_message(session, message_id=message_id, agency=None)
