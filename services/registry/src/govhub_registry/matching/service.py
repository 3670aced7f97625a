"""Linking records whose ID is missing or fails its check character.

Candidates come from blocking (persons: same birth date or same name; enterprises: similar
name by trigram), in one statement per batch; each is scored on normalised name, birth
date, ID similarity and address. Above `upper` (and clearly ahead of the runner-up) the
record links itself; between the thresholds it waits for an operator; every decision is
kept in match_decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import raw_connection
from govhub_registry.ingest.mapping import (
    MappedRecord,
    Mapping,
    Unmappable,
    map_record,
)
from govhub_registry.matching.normalise import (
    normalise_company_name,
    normalise_person_name,
    normalise_text,
)

UPPER = 0.90
LOWER = 0.70
MARGIN = 0.05  # an auto-link must beat the runner-up by this much


@dataclass
class Candidate:
    id: str
    score: float
    name: str | None


@dataclass
class MatchOutcome:
    linked: list[MappedRecord] = field(default_factory=list)
    in_review: int = 0
    unmatched: list[tuple[int, dict[str, Any], str]] = field(default_factory=list)
    decisions: list[tuple[MappedRecord, str, Candidate | None, list[Candidate]]] = field(
        default_factory=list
    )


def _stated_birth_date(rec: MappedRecord) -> str | None:
    stated = rec.data.get("birth_date")
    return stated if isinstance(stated, str) and stated else None


def _id_birth_date(key: str | None) -> str | None:
    """The birth date an ID number states, even when its check character fails."""
    if not key or len(key) < 14 or not key[6:14].isdigit():
        return None
    try:
        return date(int(key[6:10]), int(key[10:12]), int(key[12:14])).isoformat()
    except ValueError:
        return None


def _birth_similarity(rec: MappedRecord, registered: str) -> float | None:
    """1 when the stated or the ID's birth date is the registered one, 0.5 a day apart."""
    claimed = [d for d in (_stated_birth_date(rec), _id_birth_date(rec.key)) if d]
    if not claimed:
        return None
    if registered in claimed:
        return 1.0
    try:
        born = date.fromisoformat(registered)
        gaps = [abs((date.fromisoformat(d) - born).days) for d in claimed]
    except ValueError:
        return 0.0
    return 0.5 if min(gaps) <= 1 else 0.0


def _body(rec: MappedRecord) -> str | None:
    """The ID without its check character, when it has the full length."""
    return rec.key[:17] if rec.key and len(rec.key) == 18 else None


def _similar(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return fuzz.token_set_ratio(normalise_text(a), normalise_text(b)) / 100.0


def score_person(rec: MappedRecord, candidate: dict[str, Any]) -> float:
    """Weighted mean of the features both sides have."""
    attrs = candidate["attributes"]
    features: list[tuple[float, float]] = []
    name = rec.data.get("name")
    if name and attrs.get("name"):
        sim = fuzz.ratio(normalise_person_name(str(name)), normalise_person_name(attrs["name"]))
        features.append((0.4, sim / 100.0))
    birth = _birth_similarity(rec, attrs["birth_date"]) if attrs.get("birth_date") else None
    if birth is not None:
        features.append((0.2, birth))
    if rec.key:
        features.append((0.3, Levenshtein.normalized_similarity(rec.key, candidate["id"])))
    address = _similar(rec.data.get("address"), attrs.get("address"))
    if address is not None:
        features.append((0.1, address))
    weight = sum(w for w, _ in features)
    return sum(w * v for w, v in features) / weight if weight else 0.0


def score_entity(rec: MappedRecord, candidate: dict[str, Any]) -> float:
    attrs = candidate["attributes"]
    features: list[tuple[float, float]] = []
    name = rec.data.get("name")
    if name and attrs.get("name"):
        sim = fuzz.ratio(normalise_company_name(str(name)), normalise_company_name(attrs["name"]))
        features.append((0.5, sim / 100.0))
    if rec.key:
        features.append((0.3, Levenshtein.normalized_similarity(rec.key, candidate["id"])))
    address = _similar(rec.data.get("address"), attrs.get("address"))
    if address is not None:
        features.append((0.1, address))
    rep = rec.data.get("legal_rep_name")
    if rep and attrs.get("legal_rep_name"):
        features.append(
            (0.1, 1.0 if normalise_text(rep) == normalise_text(attrs["legal_rep_name"]) else 0.0)
        )
    weight = sum(w for w, _ in features)
    return sum(w * v for w, v in features) / weight if weight else 0.0


_PERSON_CANDIDATES = """
WITH q AS (SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[])
           AS q(i, birth_date, id_birth_date, name, id_body))
SELECT q.i, p.id_number AS id, p.attributes::text AS attributes
FROM q JOIN registry.person p ON p.birth_date = q.birth_date
UNION
SELECT q.i, p.id_number, p.attributes::text
FROM q JOIN registry.person p ON p.birth_date = q.id_birth_date
UNION
SELECT q.i, p.id_number, p.attributes::text FROM q JOIN registry.person p ON p.name = q.name
UNION
SELECT q.i, p.id_number, p.attributes::text
FROM q JOIN registry.person p ON left(p.id_number, 17) = q.id_body
"""

_ENTITY_CANDIDATES = """
WITH q AS (SELECT * FROM unnest($1::int[], $2::text[], $3::text[]) AS q(i, name, id_body))
SELECT q.i, c.uscc AS id, c.attributes::text AS attributes
FROM q CROSS JOIN LATERAL (
    SELECT e.uscc, e.attributes FROM registry.legal_entity e
    WHERE q.name <> '' AND e.name OPERATOR(public.%) q.name
    ORDER BY public.similarity(e.name, q.name) DESC LIMIT 20
) c
UNION
SELECT q.i, e.uscc, e.attributes::text
FROM q JOIN registry.legal_entity e ON left(e.uscc, 17) = q.id_body
"""


async def find_candidates(
    session: AsyncSession, *, records: list[MappedRecord]
) -> list[list[Candidate]]:
    """Scored candidates per record, best first: one statement per batch."""
    raw = await raw_connection(session)
    kind = records[0].subject_kind
    if kind == "person":
        rows = await raw.fetch(
            _PERSON_CANDIDATES,
            list(range(len(records))),
            [_stated_birth_date(r) for r in records],
            [_id_birth_date(r.key) for r in records],
            [normalise_person_name(str(r.data.get("name") or "")) or None for r in records],
            [_body(r) for r in records],
        )
    else:
        rows = await raw.fetch(
            _ENTITY_CANDIDATES,
            list(range(len(records))),
            [str(r.data.get("name") or "") for r in records],
            [_body(r) for r in records],
        )
    scored: list[list[Candidate]] = [[] for _ in records]
    score = score_person if kind == "person" else score_entity
    for row in rows:
        attrs = orjson.loads(row["attributes"])
        rec = records[row["i"]]
        value = score(rec, {"id": row["id"], "attributes": attrs})
        scored[row["i"]].append(Candidate(row["id"], round(value, 4), attrs.get("name")))
    for candidates in scored:
        candidates.sort(key=lambda c: c.score, reverse=True)
        del candidates[5:]
    return scored


def decide(candidates: list[Candidate]) -> tuple[str, Candidate | None]:
    """auto_link, review or no_match."""
    if not candidates or candidates[0].score < LOWER:
        return "no_match", None
    best = candidates[0]
    runner_up = candidates[1].score if len(candidates) > 1 else 0.0
    if best.score >= UPPER and best.score - runner_up >= MARGIN:
        return "auto_link", best
    return "review", best


def relink(rec: MappedRecord, key: str, mapping: Mapping) -> MappedRecord:
    """The record again, under the ID it was linked to."""
    rule = mapping.topics[rec.topic]
    record = {**rec.record, "data": {**rec.data, rule.key: key}}
    return map_record(
        rec.topic, rule, record, agency=rec.agency, where="$", derived=mapping.derived_from_id
    )


async def match_records(
    session: AsyncSession, *, records: list[MappedRecord], publisher: str, mapping: Mapping
) -> MatchOutcome:
    outcome = MatchOutcome()
    all_candidates = await find_candidates(session, records=records)
    review: list[tuple[MappedRecord, list[Candidate]]] = []
    for rec, candidates in zip(records, all_candidates, strict=True):
        decision, best = decide(candidates)
        outcome.decisions.append((rec, decision, best, candidates))
        if decision == "auto_link" and best is not None:
            try:
                outcome.linked.append(relink(rec, best.id, mapping))
            except Unmappable as exc:
                outcome.unmatched.append((rec.seq, rec.record, str(exc)))
        elif decision == "review":
            review.append((rec, candidates))
        else:
            what = "USCC" if rec.subject_kind == "legal_entity" else "resident ID number"
            reason = (
                f"$.data: no usable {what} ({rec.key or 'missing'}) and no registered "
                "subject resembles the record"
            )
            outcome.unmatched.append((rec.seq, rec.record, reason))
    outcome.in_review = len(review)
    raw = await raw_connection(session)
    if review:
        await raw.execute(
            "INSERT INTO registry.match_review (subject_kind, topic, seq, publisher, record, candidates) "
            "SELECT s.kind, s.topic, s.seq, $1, s.record, s.candidates FROM unnest("
            "$2::text[], $3::text[], $4::bigint[], $5::jsonb[], $6::jsonb[]) "
            "AS s(kind, topic, seq, record, candidates) ON CONFLICT (topic, seq) DO NOTHING",
            publisher,
            [r.subject_kind for r, _ in review],
            [r.topic for r, _ in review],
            [r.seq for r, _ in review],
            [orjson.dumps(r.record).decode() for r, _ in review],
            [_candidates_json(c) for _, c in review],
        )
    await record_decisions(
        session,
        rows=[
            (
                rec.subject_kind,
                rec.topic,
                rec.seq,
                decision,
                best.id if best else None,
                best.score if best else None,
                _candidates_json(candidates),
                "matcher",
            )
            for rec, decision, best, candidates in outcome.decisions
        ],
    )
    return outcome


def _candidates_json(candidates: list[Candidate]) -> str:
    return orjson.dumps([c.__dict__ for c in candidates]).decode()


async def list_decisions(
    session: AsyncSession, *, topic: str | None, seq: int | None, limit: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to limit + 1 rows by id, after the row `after`."""
    raw = await raw_connection(session)
    rows = await raw.fetch(
        "SELECT id, subject_kind, topic, seq, decision, linked_id, score, "
        "candidates::text AS candidates, decided_by, decided_at FROM registry.match_decision "
        "WHERE id > $1 AND ($2::text IS NULL OR topic = $2) AND ($3::bigint IS NULL OR seq = $3) "
        "ORDER BY id LIMIT $4",
        after or 0,
        topic,
        seq,
        limit + 1,
    )
    items = [{**dict(r), "candidates": orjson.loads(r["candidates"])} for r in rows]
    return items


async def record_decisions(session: AsyncSession, *, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    raw = await raw_connection(session)
    columns = list(zip(*rows, strict=True))
    await raw.execute(
        "INSERT INTO registry.match_decision (subject_kind, topic, seq, decision, linked_id, "
        "score, candidates, decided_by) SELECT * FROM unnest($1::text[], $2::text[], "
        "$3::bigint[], $4::text[], $5::text[], $6::float8[], $7::jsonb[], $8::text[])",
        *[list(c) for c in columns],
    )
