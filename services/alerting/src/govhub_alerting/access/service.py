"""What a caller is shown of the records behind a warning, and the grants that decide it.

A warning's evidence holds records of several agencies (market regulation's licence behind a
tax warning). An agency is shown of each record only what the exchange would deliver it: the
whole record when it published it (its own data), otherwise the data items of its approved
subscriptions to the record's topic (its grants); the items left out are named in `withheld`.
Values of items the exchange's catalog marks personal (`x-personal`) are masked, as the
registry masks ID numbers (govhub_common.identifiers), except in the agency's own records.
The subject itself (the USCC or ID number the case is about) is always shown. Operators see
every item, the personal ones masked: they run the hub, they do not work the case.

Alerting may not read the exchange's tables: it learns the grants from the exchange's
subscription events (govhub_common.subscription_events) into alerting.grants, and the
personal items from its catalog events (alerting.known_topics.personal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.ingest import DECEASED_TOPIC
from govhub_common.events import CloudEvent
from govhub_common.identifiers import (
    is_valid_mobile,
    is_valid_ric,
    is_valid_uscc,
    mask_mobile,
    mask_ric,
    mask_uscc,
)
from govhub_common.security import Principal
from govhub_common.subscription_events import grants_of

# Topics no exchange subscription can grant: the registry's deaths, read by alerting as
# records of a pseudo topic. They hold the subject, the date of death and the agency the
# registry had it from (rules/known_topics.yaml), the very fact the warning is about, and
# are shown whole.
HUB_TOPICS = frozenset({DECEASED_TOPIC})

# A refused or revoked subscription is final: only an approved one is ever replaced (by its
# end, or by the same approval again).
LEARN_GRANTS = """
INSERT INTO alerting.grants (subscription_id, topic, subscriber, status, items, decided_at)
SELECT x.subscription_id, x.topic, x.subscriber, x.status,
    ARRAY(SELECT jsonb_array_elements_text(x.items)), x.at
FROM jsonb_to_recordset(CAST(:entries AS jsonb)) AS x(subscription_id bigint, topic text,
    subscriber text, status text, items jsonb, at timestamptz)
ON CONFLICT (subscription_id) DO UPDATE SET topic = EXCLUDED.topic,
    subscriber = EXCLUDED.subscriber, status = EXCLUDED.status, items = EXCLUDED.items,
    decided_at = EXCLUDED.decided_at, updated_at = now()
WHERE grants.status = 'approved'
"""

_FINAL = ("refused", "revoked")


async def learn_grants(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the subscriptions of an exchange subscription event (one statement per event)."""
    latest: dict[int, dict[str, Any]] = {}
    for grant in grants_of(event):
        entry = grant.model_dump(mode="json")
        known = latest.get(grant.subscription_id)
        # One row per subscription in the statement; its end wins over its approval.
        if known is None or known["status"] not in _FINAL:
            latest[grant.subscription_id] = entry
    if latest:
        await session.execute(
            sa.text(LEARN_GRANTS), {"entries": orjson.dumps(list(latest.values())).decode()}
        )


def mask_value(value: Any) -> Any:
    """A personal value masked: ID numbers, USCCs and mobiles as govhub_common.identifiers
    masks them (440106********1234, +86138****8000), any other text to its first character
    (张*), any other value wholly."""
    if value is None:
        return None
    if isinstance(value, str):
        if is_valid_ric(value):
            return mask_ric(value)
        if is_valid_uscc(value):
            return mask_uscc(value)
        if is_valid_mobile(value):
            return mask_mobile(value)
        return value[:1] + "*" * max(len(value) - 1, 1) if len(value) > 1 else "*"
    return "***"


class EvidencePolicy:
    """What one caller may see of the topics behind some warnings: read once per request
    (two small queries), applied to every evidence record."""

    def __init__(
        self,
        principal: Principal,
        *,
        personal: Mapping[str, frozenset[str]],
        granted: Mapping[str, frozenset[str]],
    ) -> None:
        self.principal = principal
        self.personal = personal
        self.granted = granted

    def shape(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """One evidence record as the caller may see it, with `withheld` and `masked`."""
        data: Mapping[str, Any] = item.get("data") or {}
        topic, subject = item.get("topic"), item.get("subject")
        own = not self.principal.is_operator and item.get("publisher") == self.principal.agency
        if self.principal.is_operator or own or topic in HUB_TOPICS:
            allowed: frozenset[str] | None = None  # every item
        else:
            allowed = self.granted.get(str(topic), frozenset())
        personal = frozenset() if own else self.personal.get(str(topic), frozenset())
        shown: dict[str, Any] = {}
        withheld: list[str] = []
        masked: list[str] = []
        for name, value in data.items():
            # The subject is what the case is about: always shown as it is.
            if value == subject and value is not None:
                shown[name] = value
            elif allowed is not None and name not in allowed:
                withheld.append(name)
            elif name in personal and value is not None:
                shown[name] = mask_value(value)
                masked.append(name)
            else:
                shown[name] = value
        return {**item, "data": shown, "withheld": sorted(withheld), "masked": sorted(masked)}

    def shape_all(self, evidence: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [self.shape(item) for item in evidence]


async def evidence_policy(
    session: AsyncSession, *, principal: Principal, topics: Iterable[str]
) -> EvidencePolicy:
    """The personal items of these topics and, for an agency, what its approved
    subscriptions grant it of them."""
    wanted = sorted(set(topics))
    personal: dict[str, frozenset[str]] = {}
    granted: dict[str, frozenset[str]] = {}
    if wanted:
        rows = await session.execute(
            sa.text(
                "SELECT topic, personal FROM alerting.known_topics "
                "WHERE topic = ANY(CAST(:t AS text[]))"
            ),
            {"t": wanted},
        )
        personal = {row.topic: frozenset(row.personal) for row in rows}
        if not principal.is_operator:
            rows = await session.execute(
                sa.text(
                    "SELECT topic, array_agg(DISTINCT item) AS items "
                    "FROM alerting.grants, unnest(items) AS item "
                    "WHERE subscriber = :a AND status = 'approved' "
                    "AND topic = ANY(CAST(:t AS text[])) GROUP BY topic"
                ),
                {"a": principal.agency, "t": wanted},
            )
            granted = {row.topic: frozenset(row.items) for row in rows}
    return EvidencePolicy(principal, personal=personal, granted=granted)


async def shown_warnings(
    session: AsyncSession, *, principal: Principal, rows: Iterable[Any]
) -> list[dict[str, Any]]:
    """Warning rows as mappings whose evidence is what the caller may see."""
    warnings = [dict(row._mapping) for row in rows]
    policy = await evidence_policy(
        session,
        principal=principal,
        topics=(str(e.get("topic")) for w in warnings for e in w["evidence"] or ()),
    )
    for warning in warnings:
        warning["evidence"] = policy.shape_all(warning["evidence"] or ())
    return warnings
