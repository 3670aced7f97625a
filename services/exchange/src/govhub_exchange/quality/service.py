"""Scorecards computed from the day figures and the facts of a period (docs/quality.md).

Every query is bounded by the period: a month costs what its own rows cost, however many
months came before, and the exchange log is never read."""

from __future__ import annotations

import calendar
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import start_of_business_day
from govhub_common.inputs import FIRST_BUSINESS_YEAR, LAST_BUSINESS_YEAR
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem
from govhub_exchange.delivery.service import RECEIVED_SEQ
from govhub_exchange.quality.schemas import (
    DIMENSIONS,
    Completeness,
    Consistency,
    DeadlineShare,
    Fault,
    Grade,
    ItemFill,
    Period,
    Responsiveness,
    Scorecard,
    Timeliness,
    Uniqueness,
    Validity,
)
from govhub_exchange.quality.tally import DAY
from govhub_exchange.settings import ExchangeSettings

TOP_FAULTS = 10
LETTERS = ((90.0, "A"), (80.0, "B"), (70.0, "C"), (60.0, "D"))


@dataclass(frozen=True)
class Targets:
    """The settings a score is measured against (ExchangeSettings.scorecard_*)."""

    weights: dict[str, float]
    timeliness_seconds: int
    decision_seconds: int

    @classmethod
    def of(cls, settings: ExchangeSettings) -> Targets:
        return cls(
            weights=dict(settings.scorecard_weights),
            timeliness_seconds=settings.scorecard_timeliness_target_seconds,
            decision_seconds=settings.scorecard_decision_target_seconds,
        )


# The counts of exchange.quality_days, summed over a period.
DAY_COUNTS = (
    "received",
    "accepted",
    "new_versions",
    "duplicates",
    "rejected",
    "undated",
    "same_day",
)


@dataclass
class Counts:
    """One (topic, publisher) pair's figures of the period, or an agency's sum of them."""

    received: int = 0
    accepted: int = 0
    new_versions: int = 0
    duplicates: int = 0
    rejected: int = 0
    undated: int = 0
    same_day: int = 0
    delays: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    filled: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    faults: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    conflicts: int = 0
    settled: int = 0
    settle_seconds: list[float] = field(default_factory=list)
    # accepted records per topic, for the fill shares
    topic_records: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    topics: set[str] = field(default_factory=set)
    # per topic: the delays and the dated records (an agency's deadline rows are per topic)
    topic_delays: dict[str, dict[int, int]] = field(default_factory=dict)
    topic_dated: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        for name in (*DAY_COUNTS, "conflicts", "settled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in (
            (self.delays, other.delays),
            (self.filled, other.filled),
            (self.faults, other.faults),
            (self.topic_records, other.topic_records),
        ):
            for key, value in theirs.items():
                mine[key] += value  # type: ignore[index]
        self.settle_seconds.extend(other.settle_seconds)
        self.topics |= other.topics
        self.topic_delays.update(other.topic_delays)
        self.topic_dated.update(other.topic_dated)


def month_period(month: date) -> tuple[date, date]:
    """The first and last day of the month `month` lies in."""
    last = calendar.monthrange(month.year, month.month)[1]
    return month.replace(day=1), month.replace(day=last)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def _bad_period(detail: str, parameter: str) -> Problem:
    path = f"query:$.{parameter}"
    return Problem(
        ProblemCode.VALIDATION_FAILED, detail, errors=[{"path": path, "message": detail}]
    )


def resolve_period(
    *, month: str | None, period_from: date | None, period_to: date | None, today: date
) -> tuple[date, date, str | None]:
    """(first day, last day, `YYYY-MM` when a whole calendar month) of what a request names:
    a `month`, or `from` to `to` (at most 367 days; one end alone: to the end or from the
    start of its month), or neither: the last month ended by `today`. A 422 names the
    parameter at fault."""
    if month is not None and (period_from is not None or period_to is not None):
        raise _bad_period("give either month or from and to", "month")
    for name, day in (("from", period_from), ("to", period_to)):
        if day is not None and not FIRST_BUSINESS_YEAR <= day.year <= LAST_BUSINESS_YEAR:
            raise _bad_period(
                f"must lie in the years {FIRST_BUSINESS_YEAR} to {LAST_BUSINESS_YEAR}", name
            )
    if month is not None:
        start, end = month_period(date(int(month[:4]), int(month[5:]), 1))
    elif period_from is not None or period_to is not None:
        start = period_from or month_period(period_to or date.min)[0]
        end = period_to or month_period(start)[1]
        if end < start:
            raise _bad_period("to is before from", "to")
        if (end - start).days > 366:
            raise _bad_period("a period spans at most 367 days", "to")
    else:
        start, end = month_period(previous_month(today))
    whole_month = start.day == 1 and month_period(start) == (start, end)
    return start, end, start.strftime("%Y-%m") if whole_month else None


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def percentile(histogram: dict[int, int], p: float) -> int | None:
    """Nearest rank over the delay buckets: the lower bound of the bucket holding the
    ceil(p * n)-th smallest delay."""
    n = sum(histogram.values())
    if not n:
        return None
    rank, seen = max(math.ceil(p * n), 1), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket
    return None  # pragma: no cover - the loop reaches rank


def _score(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 2)


def grade(
    scores: dict[str, float | None], weights: dict[str, float]
) -> tuple[float | None, str | None]:
    """The weighted mean of the dimensions that have a score, and its letter."""
    given = [(scores[d], weights.get(d, 0.0)) for d in DIMENSIONS if scores.get(d) is not None]
    total = sum(w for _, w in given)
    if not total:
        return None, None
    value = round(sum(s * w for s, w in given if s is not None) / total, 2)
    letter = next((letter for bound, letter in LETTERS if value >= bound), "E")
    return value, letter


# --- the period's rows ----------------------------------------------------------------------

_DAYS = """
SELECT topic_code, publisher, sum(received) AS received, sum(accepted) AS accepted,
    sum(new_versions) AS new_versions, sum(duplicates) AS duplicates,
    sum(rejected) AS rejected, sum(undated) AS undated, sum(same_day) AS same_day
FROM exchange.quality_days
WHERE day BETWEEN :from AND :to {where}
GROUP BY topic_code, publisher
"""
_DELAYS = """
SELECT topic_code, publisher, bucket, sum(records) AS records FROM exchange.quality_delays
WHERE day BETWEEN :from AND :to {where} GROUP BY topic_code, publisher, bucket
"""
_FILLED = """
SELECT f.topic_code, f.publisher, f.item, sum(f.records) AS records
FROM exchange.quality_filled f
JOIN exchange.data_items i ON i.topic_code = f.topic_code AND i.name = f.item AND NOT i.required
WHERE f.day BETWEEN :from AND :to {where} GROUP BY f.topic_code, f.publisher, f.item
"""
_OPTIONAL = """
SELECT i.topic_code, i.name FROM exchange.data_items i
WHERE NOT i.required AND i.topic_code = ANY(CAST(:topics AS text[]))
"""
_FAULTS = """
SELECT topic_code, publisher, item, rule, sum(records) AS records FROM exchange.quality_faults
WHERE day BETWEEN :from AND :to {where} GROUP BY topic_code, publisher, item, rule
"""
_CONFLICTS = """
SELECT agency AS publisher, coalesce(topic_code, '') AS topic_code, count(*) AS conflicts,
    count(closed_at) AS settled,
    array_agg(extract(epoch FROM closed_at - detected_at)) FILTER (WHERE closed_at IS NOT NULL)
        AS settle_seconds
FROM exchange.quality_conflicts
WHERE detected_at >= :start AND detected_at < :end {where_agency}
GROUP BY agency, topic_code
"""


def _filters(agency: str | None, topic: str | None, prefix: str = "") -> str:
    where = ""
    if agency is not None:
        where += f" AND {prefix}publisher = :agency"
    if topic is not None:
        where += f" AND {prefix}topic_code = :topic"
    return where


async def _pairs(
    session: AsyncSession, *, start: date, end: date, agency: str | None, topic: str | None
) -> dict[tuple[str, str], Counts]:
    """Each (topic, publisher)'s figures of the period."""
    params = {"from": start, "to": end, "agency": agency, "topic": topic}
    pairs: dict[tuple[str, str], Counts] = defaultdict(Counts)
    where = _filters(agency, topic)
    for row in await session.execute(sa.text(_DAYS.format(where=where)), params):
        c = pairs[row.topic_code, row.publisher]
        for name in DAY_COUNTS:
            setattr(c, name, int(getattr(row, name)))
        c.topic_records[row.topic_code] = int(row.accepted)
        c.topics.add(row.topic_code)
    for row in await session.execute(sa.text(_DELAYS.format(where=where)), params):
        pairs[row.topic_code, row.publisher].delays[row.bucket] += int(row.records)
    filled_where = _filters(agency, topic, "f.")
    for row in await session.execute(sa.text(_FILLED.format(where=filled_where)), params):
        pairs[row.topic_code, row.publisher].filled[row.topic_code, row.item] += int(row.records)
    for row in await session.execute(sa.text(_FAULTS.format(where=where)), params):
        key = (row.topic_code, row.item, row.rule)
        pairs[row.topic_code, row.publisher].faults[key] += int(row.records)
    conflict_where = " AND agency = :agency" if agency is not None else ""
    if topic is not None:
        conflict_where += " AND topic_code = :topic"
    bounds = {
        "start": start_of_business_day(start),
        "end": start_of_business_day(end + timedelta(days=1)),
    }
    for row in await session.execute(
        sa.text(_CONFLICTS.format(where_agency=conflict_where)), {**params, **bounds}
    ):
        c = pairs[row.topic_code, row.publisher]
        c.conflicts, c.settled = int(row.conflicts), int(row.settled)
        c.settle_seconds = [float(s) for s in row.settle_seconds or []]
    for (t, _), c in pairs.items():
        if t:
            c.topic_delays[t] = dict(c.delays)
            c.topic_dated[t] = c.accepted - c.undated
    return pairs


async def _optional_items(session: AsyncSession, topics: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for row in await session.execute(sa.text(_OPTIONAL), {"topics": sorted(topics)}):
        out[row.topic_code].append(row.name)
    return {t: sorted(items) for t, items in out.items()}


async def _deadlines(session: AsyncSession) -> dict[str, list[tuple[str, int]]]:
    """Per topic, the (rule, window in days) of each enabled rule that reads it."""
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    rows = await session.execute(
        sa.text(
            "SELECT rule_id, window_days, topics FROM exchange.quality_rules "
            "WHERE enabled AND window_days IS NOT NULL ORDER BY rule_id"
        )
    )
    for row in rows:
        for topic in row.topics:
            out[topic].append((row.rule_id, int(row.window_days)))
    return out


# Every agency's conduct in one statement: its requests as a topic owner, its own
# subscriptions as a subscriber, the webhook posts to it and the warnings assigned to it.
_WAITING = "(decided_at IS NULL OR decided_at >= :end)"
_DECIDED = "(decided_at >= :start AND decided_at < :end)"
_RESPONSIVENESS = f"""
WITH wanted AS (
    SELECT unnest(CAST(:agencies AS text[])) AS agency
), owned AS (
    SELECT t.owner AS agency, s.requested_at, s.decided_at,
        extract(epoch FROM s.decided_at - s.requested_at) AS seconds
    FROM exchange.subscriptions s JOIN exchange.topics t ON t.code = s.topic_code
    WHERE t.owner = ANY(CAST(:agencies AS text[])) AND s.subscriber <> t.owner
      AND s.requested_at < :end
), requests AS (
    SELECT agency,
        count(*) FILTER (WHERE {_WAITING}) AS waiting,
        extract(epoch FROM :end - min(requested_at) FILTER (WHERE {_WAITING})) AS oldest,
        count(*) FILTER (WHERE {_WAITING}
            AND requested_at < :end - make_interval(secs => :target)) AS overdue,
        count(*) FILTER (WHERE {_DECIDED}) AS decided,
        count(*) FILTER (WHERE {_DECIDED} AND seconds <= :target) AS on_time,
        percentile_disc(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE {_DECIDED})
            AS median
    FROM owned GROUP BY agency
), subscribed AS (
    SELECT s.subscriber AS agency, count(*) AS subscriptions,
        sum(greatest(t.head_seq - {RECEIVED_SEQ}, 0)) AS lag
    FROM exchange.subscriptions s JOIN exchange.topics t ON t.code = s.topic_code
    WHERE s.subscriber = ANY(CAST(:agencies AS text[])) AND s.status = 'approved'
    GROUP BY s.subscriber
), webhooks AS (
    SELECT subscriber AS agency, sum(attempts) AS attempts, sum(failures) AS failures,
        sum(dead) AS dead
    FROM exchange.quality_webhook_days
    WHERE subscriber = ANY(CAST(:agencies AS text[])) AND day BETWEEN :from AND :to
    GROUP BY subscriber
), warnings AS (
    SELECT agency, count(*) AS warnings, count(resolved_at) AS followed_up
    FROM exchange.quality_warnings
    WHERE agency = ANY(CAST(:agencies AS text[])) AND raised_at >= :start AND raised_at < :end
    GROUP BY agency
)
SELECT w.agency, coalesce(r.waiting, 0) AS waiting, r.oldest, coalesce(r.overdue, 0) AS overdue,
    coalesce(r.decided, 0) AS decided, coalesce(r.on_time, 0) AS on_time, r.median,
    coalesce(s.subscriptions, 0) AS subscriptions, coalesce(s.lag, 0) AS lag,
    coalesce(h.attempts, 0) AS attempts, coalesce(h.failures, 0) AS failures,
    coalesce(h.dead, 0) AS dead, coalesce(a.warnings, 0) AS warnings,
    coalesce(a.followed_up, 0) AS followed_up
FROM wanted w
LEFT JOIN requests r ON r.agency = w.agency
LEFT JOIN subscribed s ON s.agency = w.agency
LEFT JOIN webhooks h ON h.agency = w.agency
LEFT JOIN warnings a ON a.agency = w.agency
"""


async def _responsiveness(
    session: AsyncSession,
    *,
    agencies: list[str],
    start: date,
    end: date,
    now: datetime,
    targets: Targets,
) -> dict[str, Responsiveness]:
    """Each agency's responsiveness over the period (until now, for a period not ended)."""
    rows = await session.execute(
        sa.text(_RESPONSIVENESS),
        {
            "agencies": agencies,
            "start": start_of_business_day(start),
            "end": min(start_of_business_day(end + timedelta(days=1)), now),
            "from": start,
            "to": end,
            "target": targets.decision_seconds,
        },
    )
    return {row.agency: _responsiveness_of(row, targets) for row in rows}


def _responsiveness_of(row: Any, targets: Targets) -> Responsiveness:
    decided_or_overdue = int(row.decided) + int(row.overdue)
    subscores = [
        ratio(int(row.on_time), decided_or_overdue),
        ratio(int(row.attempts) - int(row.failures), int(row.attempts)),
        ratio(int(row.followed_up), int(row.warnings)),
    ]
    given = [s for s in subscores if s is not None]
    return Responsiveness(
        requests_waiting=int(row.waiting),
        oldest_request_age_seconds=None if row.oldest is None else int(row.oldest),
        requests_decided=int(row.decided),
        median_decision_seconds=None if row.median is None else int(row.median),
        requests_on_time=int(row.on_time),
        requests_overdue=int(row.overdue),
        decision_target_seconds=targets.decision_seconds,
        subscriptions=int(row.subscriptions),
        lag_records=int(row.lag),
        webhook_attempts=int(row.attempts),
        webhook_failures=int(row.failures),
        webhook_dead=int(row.dead),
        warnings_assigned=int(row.warnings),
        warnings_followed_up=int(row.followed_up),
        follow_up_rate=ratio(int(row.followed_up), int(row.warnings)),
        score=round(100 * sum(given) / len(given), 2) if given else None,
    )


# --- one scorecard from its counts ------------------------------------------------------------


def _card(
    *,
    agency: str,
    topic: str | None,
    period: Period,
    c: Counts,
    optional: dict[str, list[str]],
    deadlines: dict[str, list[tuple[str, int]]],
    responsiveness: Responsiveness | None,
    targets: Targets,
) -> Scorecard:
    dated = c.accepted - c.undated
    within = sum(n for bucket, n in c.delays.items() if bucket < targets.timeliness_seconds)
    later = [
        DeadlineShare(
            topic=t,
            rule_id=rule,
            window_days=days,
            later=(n := _later(c, t, days)),
            share=ratio(n, c.topic_dated.get(t, 0)),
        )
        for t in sorted(c.topics)
        for rule, days in deadlines.get(t, [])
    ]
    timeliness = Timeliness(
        records=c.accepted,
        dated=dated,
        delay_p50_seconds=percentile(c.delays, 0.5),
        delay_p95_seconds=percentile(c.delays, 0.95),
        same_day=c.same_day,
        same_day_share=ratio(c.same_day, dated),
        within_target=within,
        target_seconds=targets.timeliness_seconds,
        later_than_deadlines=later,
        score=_score(ratio(within, dated)),
    )
    faults = sorted(
        (Fault(topic=t, item=i, rule=r, records=n) for (t, i, r), n in c.faults.items()),
        key=lambda f: (-f.records, f.topic, f.item, f.rule),
    )[:TOP_FAULTS]
    validity = Validity(
        received=c.received,
        rejected=c.rejected,
        rejected_share=ratio(c.rejected, c.received),
        faults=faults,
        score=_score(None if not c.received else 1 - c.rejected / c.received),
    )
    churn = c.duplicates + c.new_versions
    uniqueness = Uniqueness(
        received=c.received,
        duplicates=c.duplicates,
        duplicate_share=ratio(c.duplicates, c.received),
        new_versions=c.new_versions,
        new_version_share=ratio(c.new_versions, c.received),
        score=_score(None if not c.received else max(1 - churn / c.received, 0.0)),
    )
    consistency = Consistency(
        records=c.accepted,
        conflicts=c.conflicts,
        conflict_share=ratio(c.conflicts, c.accepted),
        settled=c.settled,
        settled_share=ratio(c.settled, c.conflicts),
        median_settle_seconds=_median(c.settle_seconds),
        score=_score(None if not c.accepted else max(1 - c.conflicts / c.accepted, 0.0)),
    )
    fills = [
        ItemFill(
            topic=t,
            item=item,
            filled=c.filled.get((t, item), 0),
            records=c.topic_records.get(t, 0),
            share=ratio(c.filled.get((t, item), 0), c.topic_records.get(t, 0)),
        )
        for t in sorted(c.topics)
        for item in optional.get(t, [])
    ]
    shares = [f.share for f in fills if f.share is not None]
    completeness = Completeness(
        items=fills, score=round(100 * sum(shares) / len(shares), 2) if shares else None
    )
    scores: dict[str, float | None] = {
        "timeliness": timeliness.score,
        "validity": validity.score,
        "uniqueness": uniqueness.score,
        "consistency": consistency.score,
        "completeness": completeness.score,
        "responsiveness": responsiveness.score if responsiveness else None,
    }
    value, letter = grade(scores, targets.weights)
    return Scorecard(
        agency=agency,
        topic=topic,
        period=period,
        grade=Grade(score=value, letter=letter, change=None, weights=targets.weights),
        timeliness=timeliness,
        validity=validity,
        uniqueness=uniqueness,
        consistency=consistency,
        completeness=completeness,
        responsiveness=responsiveness,
    )


def _later(c: Counts, topic: str, days: int) -> int:
    """The topic's dated records at least `days` late."""
    return sum(n for bucket, n in c.topic_delays.get(topic, {}).items() if bucket >= days * DAY)


def _median(values: list[float]) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return int(ordered[(len(ordered) - 1) // 2])


# --- the API's question -------------------------------------------------------------------


async def scorecards(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    month: str | None,
    agency: str | None,
    topic: str | None,
    by_topic: bool,
    now: datetime,
    targets: Targets,
    with_change: bool = True,
) -> list[Scorecard]:
    """The scorecards of a period: one per agency (every agency of the hub, or `agency`),
    or with `by_topic` (or a `topic`) one per topic and publisher."""
    period = Period.model_validate({"from": start, "to": end, "month": month})
    pairs = await _pairs(session, start=start, end=end, agency=agency, topic=topic)
    topics = {t for (t, _) in pairs if t}
    optional = await _optional_items(session, topics)
    deadlines = await _deadlines(session)
    cards: list[Scorecard] = []
    if by_topic or topic is not None:
        for (t, publisher), c in sorted(pairs.items()):
            if not t:
                continue  # conflicts the registry could not place in a topic
            cards.append(
                _card(
                    agency=publisher,
                    topic=t,
                    period=period,
                    c=c,
                    optional=optional,
                    deadlines=deadlines,
                    responsiveness=None,
                    targets=targets,
                )
            )
    else:
        agencies = (
            [agency]
            if agency is not None
            else list(
                (
                    await session.execute(
                        sa.text(
                            "SELECT code FROM exchange.agencies WHERE NOT disabled ORDER BY code"
                        )
                    )
                ).scalars()
            )
        )
        per_agency: dict[str, Counts] = defaultdict(Counts)
        for (_, publisher), c in pairs.items():
            per_agency[publisher].add(c)
        conduct = await _responsiveness(
            session, agencies=agencies, start=start, end=end, now=now, targets=targets
        )
        for code in agencies:
            c = per_agency.get(code) or Counts()
            c.topics.discard("")
            cards.append(
                _card(
                    agency=code,
                    topic=None,
                    period=period,
                    c=c,
                    optional=optional,
                    deadlines=deadlines,
                    responsiveness=conduct[code],
                    targets=targets,
                )
            )
    if month is not None and with_change:
        before = previous_month(start)
        first, last = month_period(before)
        earlier = await scorecards(
            session,
            start=first,
            end=last,
            month=before.strftime("%Y-%m"),
            agency=agency,
            topic=topic,
            by_topic=by_topic,
            now=now,
            targets=targets,
            with_change=False,
        )
        previous = {(s.agency, s.topic): s.grade.score for s in earlier}
        for card in cards:
            was = previous.get((card.agency, card.topic))
            if card.grade.score is not None and was is not None:
                card.grade.change = round(card.grade.score - was, 2)
    return cards
