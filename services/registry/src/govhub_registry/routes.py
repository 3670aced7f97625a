"""HTTP API under /registry/v1: thin routes; logic in the services."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BeforeValidator

from govhub_common.clock import ensure_utc
from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.identifiers import validate_ric, validate_uscc
from govhub_common.inputs import BIGINT_MAX, NO_NUL
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.problems import Problem, forbidden, not_found
from govhub_common.security import Operator
from govhub_registry.access.policy import REPRESENTATIVE_ID, View
from govhub_registry.conflicts import service as conflicts
from govhub_registry.deps import MappingDep, PolicyDep, Reader
from govhub_registry.lookup import service as lookup
from govhub_registry.matching import review
from govhub_registry.matching.service import list_decisions
from govhub_registry.schemas import (
    RIC_SHAPE,
    SUBJECT_ID,
    TOPIC_CODE,
    USCC_SHAPE,
    AccessLogPublic,
    AttributeValuePublic,
    ConflictPublic,
    ConflictSettle,
    MatchDecisionPublic,
    RegistrationPublic,
    ReviewLink,
    ReviewPublic,
    ReviewResolve,
    SearchHit,
    SubjectPublic,
    UnmappedPublic,
)
from govhub_registry.subjects import LEGAL_ENTITY, PERSON, SubjectTable

router = APIRouter(prefix="/v1")
Purpose = Annotated[
    str,
    Query(
        max_length=200,
        pattern=NO_NUL,
        description="Why the data is read; kept in the access log.",
    ),
]
UsccKey = Annotated[
    str,
    Path(
        pattern=USCC_SHAPE,
        description="The unified social credit code (18 characters); one whose check "
        "character does not match names no legal entity (404).",
        examples=["91440101MA59CTL309"],
    ),
]
RicKey = Annotated[
    str,
    Path(
        pattern=RIC_SHAPE,
        description="The resident identity number (18 characters); one whose birth date or "
        "check character is not valid names no person (404).",
        examples=["440106197104041235"],
    ),
]
Topic = Annotated[str | None, Query(pattern=TOPIC_CODE, description="Only records of this topic.")]
# Beyond the standard problems (401, 403 insufficient_scope, 404, 422, 503, added to every
# operation by govhub_common.contract): what each operation can also answer.
_LIST = problem_responses(ProblemCode.INVALID_CURSOR)
_FORBIDDEN = problem_responses(ProblemCode.INSUFFICIENT_SCOPE, ProblemCode.FORBIDDEN)
# A body that is not UTF-8 is FastAPI's 400 `http_error`.
_BODY = problem_responses(ProblemCode.HTTP_ERROR)


def _checked(subject: SubjectTable, key: str) -> str:
    """The ID in canonical form. Its shape is the schema's (a 422 before this); an ID of
    that shape whose check character (or a person's birth date) is wrong names no subject,
    which no pattern can say: 404, as for any ID the registry does not hold."""
    validate = validate_uscc if subject is LEGAL_ENTITY else validate_ric
    try:
        return validate(key.strip().upper())
    except ValueError as exc:
        raise Problem(
            ProblemCode.NOT_FOUND,
            f"{subject.kind.replace('_', ' ')} {key} does not exist: {exc}",
            errors=[{"path": f"path:$.{subject.key}", "message": str(exc)}],
        ) from None


def _date_text(pattern: re.Pattern[str], example: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        # A string, as the schema says: not the seconds since 1970 pydantic would also take.
        if isinstance(value, date) or (isinstance(value, str) and pattern.match(value)):
            return value
        raise ValueError(f"must be written like {example}")

    return check


BusinessDate = Annotated[
    date, BeforeValidator(_date_text(re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}$"), "2024-03-01"))
]
DateTime = Annotated[
    datetime,
    BeforeValidator(
        _date_text(
            re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}"),
            "2024-03-01T09:00:00+08:00",
        )
    ),
]


def _utc(moment: datetime) -> datetime:
    """The moment in UTC (naive: Asia/Shanghai); at the ends of the calendar, where the
    conversion leaves datetime's range, its first or last UTC moment."""
    try:
        return ensure_utc(moment)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


def _subject_routes(subject: SubjectTable, segment: str, plural: str) -> None:
    label = subject.kind.replace("_", " ")
    key_name = "USCC" if subject is LEGAL_ENTITY else "resident ID number"

    def _representative(
        key: str, stored: dict[str, Any], shown: Iterable[str]
    ) -> lookup.RepresentativeRead | None:
        """What a legal entity's read showed of its legal representative (logged on
        that person too); None for a person's read."""
        if subject is not LEGAL_ENTITY:
            return None
        return lookup.representative_read(key, stored, shown)

    async def get_one(
        key: str,
        request: Request,
        principal: Reader,
        policy: PolicyDep,
        purpose: Purpose = "unspecified",
        as_of: Annotated[
            BusinessDate | None, Query(description="Valid time (business date).")
        ] = None,
        known_at: Annotated[
            DateTime | None, Query(description="Recorded time: what the registry knew then.")
        ] = None,
    ) -> Response:
        key = _checked(subject, key)
        view = policy.view(principal, subject.kind)
        if as_of is None and known_at is None:
            # One statement reads and logs, no session. (A request that succeeds here is
            # mostly answered before routing: lookup/fast_path.py, with the same bytes.)
            context = request.app.state.context
            shown = await lookup.current_record(context, subject, key, principal, view, purpose)
            if shown is None:
                raise not_found(label, key)
            return Response(shown, media_type="application/json")
        async with request.app.state.context.db.session() as session:
            found = await lookup.get_subject(
                session,
                subject=subject,
                key=key,
                as_of=as_of,
                known_at=_utc(known_at) if known_at else None,
            )
            if found is None:
                raise not_found(label, key)
            attributes = view.shape(found[0])
            await lookup.log_access(
                session,
                principal=principal,
                subject=subject,
                reads=[(key, sorted(attributes))],
                purpose=purpose,
                action="get",
                representatives=[_representative(key, found[0], attributes)],
            )
        body = SubjectPublic(
            kind=subject.kind,
            id=key,
            attributes=attributes,
            sources={k: v for k, v in found[1].items() if k in attributes},
            as_of=as_of,
            known_at=known_at,
        )
        # Already a validated SubjectPublic: skip FastAPI's second validation pass.
        return Response(body.model_dump_json(), media_type="application/json")

    async def get_history(
        key: str,
        session: SessionDep,
        principal: Reader,
        policy: PolicyDep,
        purpose: Purpose = "unspecified",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[AttributeValuePublic]:
        key = _checked(subject, key)
        after = decode_cursor(cursor, int, str)
        view = policy.view(principal, subject.kind)
        current = await lookup.get_subject(session, subject=subject, key=key)
        if current is None:
            raise not_found(label, key)
        granted = None if view.allows("*") else frozenset(view.fields)
        rows = await lookup.history(
            session,
            subject=subject,
            key=key,
            attributes=granted,
            limit=limit,
            after=(after[0], after[1]) if after else None,
        )

        def shaped(row: dict[str, Any]) -> AttributeValuePublic:
            value = view.shape({row["attribute"]: row["value"]})[row["attribute"]]
            return AttributeValuePublic(**{**row, "value": value})

        result = page(rows, limit, key=lambda r: (r["id"], r["attribute"]), item=shaped)
        shown = {i.attribute for i in result.data}
        # Every representative the page names (a legal entity may have had several).
        representatives = {
            row["value"]: _representative(key, {REPRESENTATIVE_ID: row["value"]}, shown)
            for row in rows[:limit]
            if row["attribute"] == REPRESENTATIVE_ID
        }
        if not representatives:  # e.g. only names on this page: the current representative
            representatives[None] = _representative(key, current[0], shown)
        await lookup.log_access(
            session,
            principal=principal,
            subject=subject,
            reads=[(key, sorted(shown))],
            purpose=purpose,
            action="history",
            representatives=list(representatives.values()),
        )
        return result

    async def get_registrations(
        key: str,
        session: SessionDep,
        principal: Reader,
        policy: PolicyDep,
        purpose: Purpose = "unspecified",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[RegistrationPublic]:
        key = _checked(subject, key)
        after = decode_cursor(cursor, str, str)
        view = policy.view(principal, subject.kind)
        if not view.allows("registrations"):
            raise forbidden(
                f"agency {principal.agency} is not granted the registrations of a {label}"
            )
        if await lookup.get_subject(session, subject=subject, key=key) is None:
            raise not_found(label, key)
        rows = await lookup.registrations(
            session,
            subject=subject,
            key=key,
            limit=limit,
            after=(after[0], after[1]) if after else None,
        )
        await lookup.log_access(
            session,
            principal=principal,
            subject=subject,
            reads=[(key, ["registrations"])],
            purpose=purpose,
            action="registrations",
        )
        return page(
            rows,
            limit,
            key=lambda r: (r["kind"], r["agency"]),
            item=lambda r: RegistrationPublic(**r),
        )

    async def search(
        session: SessionDep,
        principal: Reader,
        policy: PolicyDep,
        name: Annotated[
            str,
            Query(
                min_length=2,
                max_length=100,
                pattern=NO_NUL,
                description="Part of the name, in Chinese.",
            ),
        ],
        purpose: Purpose = "unspecified",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[SearchHit]:
        after = decode_cursor(cursor, float, str)
        view = policy.view(principal, subject.kind)
        if not view.allows("name"):
            raise forbidden(f"agency {principal.agency} is not granted the names of a {label}")
        hits = await lookup.search_by_name(
            session,
            subject=subject,
            name=name,
            limit=limit,
            after=(after[0], after[1]) if after else None,
        )
        result = page(
            hits,
            limit,
            key=lambda h: (h["similarity"], h["id"]),
            item=lambda h: SearchHit(**{**h, "attributes": view.shape(h["attributes"])}),
        )
        await lookup.log_access(
            session,
            principal=principal,
            subject=subject,
            reads=[(h.id, sorted(h.attributes)) for h in result.data],
            purpose=purpose,
            action="search",
            representatives=[
                _representative(hit["id"], hit["attributes"], shown.attributes)
                for hit, shown in zip(hits, result.data, strict=False)
            ],
        )
        return result

    param = "{" + subject.key + "}"
    tag = segment
    _add(
        f"/{segment}/{param}",
        get_one,
        SubjectPublic,
        name=f"get_{subject.kind}",
        tag=tag,
        summary=f"A {label} (current, or as of a date)",
        description=f"The {label}'s golden record by its {key_name}: its current values, or "
        "with `as_of` the values valid on that business date, or with `known_at` what the "
        "registry knew at that time. Only the attributes the caller's agency is granted "
        "are shown, other people's ID numbers masked unless granted; the read is logged "
        "with its `purpose`.",
    )
    _add(
        f"/{segment}/{param}/history",
        get_history,
        Page[AttributeValuePublic],
        name=f"list_{subject.kind}_history",
        tag=tag,
        summary=f"History of a {label}",
        description=f"Every value an agency asserted for the {label}'s granted attributes, "
        "oldest first, with the source and when it was valid and recorded. The read is "
        "logged.",
        responses=_LIST,
    )
    _add(
        f"/{segment}/{param}/registrations",
        get_registrations,
        Page[RegistrationPublic],
        name=f"list_{subject.kind}_registrations",
        tag=tag,
        summary=f"Registrations of a {label}",
        description=f"The {label}'s registrations with agencies (business licence, tax, "
        "benefits, ...) by kind and agency. Only for agencies granted `registrations`; "
        "the read is logged.",
        responses={**_LIST, **_FORBIDDEN},
    )
    _add(
        f"/{segment}",
        search,
        Page[SearchHit],
        name=f"search_{plural}",
        tag=tag,
        summary=f"Search {label}s by name",
        description=f"{label.capitalize()}s whose current name is like `name` (trigram "
        "similarity, or containing it), most similar first. Only for agencies granted "
        "`name`; each hit's read is logged.",
        responses={**_LIST, **_FORBIDDEN},
    )


def _add(
    path: str,
    endpoint: Callable[..., Any],
    model: Any,
    *,
    name: str,
    tag: str,
    summary: str,
    description: str,
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> None:
    """One GET operation named `name` (its operation id); the path parameter is named after
    the key (uscc, id_number) while the functions take `key`."""
    key = path.split("{")[1].split("}")[0] if "{" in path else None
    route = endpoint
    if key is not None:
        import inspect

        signature = inspect.signature(endpoint)
        key_type = UsccKey if key == LEGAL_ENTITY.key else RicKey
        params = [
            p.replace(name=key, annotation=key_type) if p.name == "key" else p
            for p in signature.parameters.values()
        ]

        async def renamed(**kwargs: Any) -> Any:
            kwargs["key"] = kwargs.pop(key)
            return await endpoint(**kwargs)

        renamed.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        route = renamed
    router.add_api_route(
        path,
        route,
        methods=["GET"],
        response_model=model,
        name=name,
        tags=[tag],
        summary=summary,
        description=description,
        responses=responses,
    )


_subject_routes(LEGAL_ENTITY, "legal-entities", "legal_entities")
_subject_routes(PERSON, "persons", "persons")


@router.get(
    "/persons/{id_number}/access-log",
    response_model=Page[AccessLogPublic],
    tags=["persons"],
    summary="Who read this person's data (for a citizen's request)",
    responses=_LIST,
)
async def list_person_access_log(
    id_number: RicKey,
    session: SessionDep,
    operator: Operator,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AccessLogPublic]:
    """Every read of the person's data by any agency, oldest first: when, which agency and
    client, which fields it was shown, its purpose and the kind of read. Operators only."""
    key = _checked(PERSON, id_number)
    after = decode_cursor(cursor, int)
    rows = await lookup.access_log(
        session, subject=PERSON, key=key, limit=limit, after=after[0] if after else None
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: AccessLogPublic(**r))


@router.get(
    "/conflicts",
    response_model=Page[ConflictPublic],
    tags=["conflicts"],
    summary="Conflicts between agencies",
    responses=_LIST,
)
async def list_conflicts(
    session: SessionDep,
    operator: Operator,
    status: Annotated[
        Literal["open", "settled", "resolved"], Query(description="Default: the open ones.")
    ] = "open",
    subject_kind: Annotated[Literal["legal_entity", "person"] | None, Query()] = None,
    subject_id: Annotated[
        str | None, Query(pattern=SUBJECT_ID, description="A USCC or resident ID.")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ConflictPublic]:
    """Attributes on which agencies' current values disagree, oldest first, each with every
    agency's claim. A conflict is `resolved` when the agencies come to agree, `settled`
    when an operator has dealt with it. Operators only."""
    after = decode_cursor(cursor, int)
    rows = await conflicts.list_conflicts(
        session,
        status=status,
        subject_kind=subject_kind,
        subject_id=subject_id,
        limit=limit,
        after=after[0] if after else None,
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: ConflictPublic(**r))


@router.post(
    "/conflicts/{conflict_id}/settle",
    response_model=ConflictPublic,
    tags=["conflicts"],
    summary="Mark a conflict settled (an operator has dealt with it)",
    responses=problem_responses(ProblemCode.HTTP_ERROR, ProblemCode.CONFLICT_NOT_OPEN),
)
async def settle_conflict(
    conflict_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    body: ConflictSettle,
    session: SessionDep,
    operator: Operator,
) -> ConflictPublic:
    """Closes an open conflict with the operator's note (e.g. the agency that was wrong has
    been asked to correct its record); 409 `conflict_not_open` when it is not open."""
    row = await conflicts.settle_conflict(
        session, conflict_id=conflict_id, settled_by=operator.agency, note=body.note
    )
    return ConflictPublic(**row)


@router.get(
    "/review-queue",
    response_model=Page[ReviewPublic],
    tags=["matching"],
    summary="Records awaiting a match decision",
    responses=_LIST,
)
async def list_review_queue(
    session: SessionDep,
    operator: Operator,
    status: Annotated[
        Literal["pending", "linked", "rejected"], Query(description="Default: the pending ones.")
    ] = "pending",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ReviewPublic]:
    """Records that carry no ID the registry knows but might be a registered subject (a
    close name and birth date, ...), oldest first, with their candidates and scores.
    Operators only."""
    after = decode_cursor(cursor, int)
    rows = await review.list_reviews(
        session, status=status, limit=limit, after=after[0] if after else None
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: ReviewPublic(**r))


@router.post(
    "/review-queue/{review_id}/resolve",
    response_model=ReviewPublic,
    tags=["matching"],
    summary="Link a record to a subject, or reject the match",
    responses=problem_responses(
        ProblemCode.HTTP_ERROR,
        ProblemCode.NOT_FOUND,
        ProblemCode.REVIEW_NOT_PENDING,
        ProblemCode.VALIDATION_FAILED,
        ProblemCode.UNMAPPABLE,
    ),
)
async def resolve_review(
    review_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    body: ReviewResolve,
    session: SessionDep,
    operator: Operator,
    mapping: MappingDep,
) -> ReviewPublic:
    """`link` applies the record to the subject `id` names (404 `not_found` when there is no
    such subject; 422 `unmappable` when the record then cannot be mapped); `reject` keeps
    it as an unmapped record. Either way the decision is recorded; 409
    `review_not_pending` when the review was already decided."""
    decision = body.root
    row = await review.resolve_review(
        session,
        review_id=review_id,
        decision=decision.decision,
        linked_id=decision.id.strip().upper() if isinstance(decision, ReviewLink) else None,
        resolved_by=operator.agency,
        mapping=mapping,
    )
    return ReviewPublic(**row)


@router.get(
    "/match-decisions",
    response_model=Page[MatchDecisionPublic],
    tags=["matching"],
    summary="Every matching decision, automatic or by an operator",
    responses=_LIST,
)
async def list_match_decisions(
    session: SessionDep,
    operator: Operator,
    topic: Topic = None,
    seq: Annotated[
        int | None, Query(ge=1, le=BIGINT_MAX, description="Only the record with this seq.")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[MatchDecisionPublic]:
    """How each record without a known ID was matched, oldest first: linked automatically,
    sent to review, no match, or linked or rejected by an operator, with the score and
    candidates. Operators only."""
    after = decode_cursor(cursor, int)
    rows = await list_decisions(
        session, topic=topic, seq=seq, limit=limit, after=after[0] if after else None
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: MatchDecisionPublic(**r))


@router.get(
    "/unmapped-records",
    response_model=Page[UnmappedPublic],
    tags=["ingest"],
    summary="Records the registry could not use, with the reason",
    responses=_LIST,
)
async def list_unmapped_records(
    session: SessionDep,
    operator: Operator,
    topic: Topic = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[UnmappedPublic]:
    """Published records the registry's mapping could not apply (no valid ID, a required
    item missing, rejected in review, ...), oldest first. Operators only."""
    after = decode_cursor(cursor, int)
    rows = await review.list_unmapped(
        session, topic=topic, limit=limit, after=after[0] if after else None
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: UnmappedPublic(**r))


__all__ = ["View", "router"]
