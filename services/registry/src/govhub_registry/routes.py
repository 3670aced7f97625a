"""HTTP API under /registry/v1: thin routes; logic in the services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from govhub_common.clock import ensure_utc
from govhub_common.db import SessionDep
from govhub_common.identifiers import validate_ric, validate_uscc
from govhub_common.problems import Problem, forbidden, not_found
from govhub_common.security import Operator, Principal, require_scope
from govhub_registry.access.policy import AccessPolicy, View
from govhub_registry.conflicts import service as conflicts
from govhub_registry.ingest.mapping import Mapping
from govhub_registry.lookup import service as lookup
from govhub_registry.matching import review
from govhub_registry.matching.service import list_decisions
from govhub_registry.schemas import (
    AccessLogPublic,
    AttributeValuePublic,
    ConflictPublic,
    ConflictSettle,
    MatchDecisionPublic,
    Page,
    RegistrationPublic,
    ReviewPublic,
    ReviewResolve,
    SearchHit,
    SubjectPublic,
    UnmappedPublic,
)
from govhub_registry.subjects import LEGAL_ENTITY, PERSON, SubjectTable

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, Depends(require_scope("registry:read"))]
Purpose = Annotated[
    str, Query(max_length=200, description="Why the data is read; kept in the access log.")
]
Limit = Annotated[int, Query(ge=1, le=500)]


# Async, like every dependency on a hot path: FastAPI runs a plain `def` in a worker thread,
# and the hand-over costs more than the lookup itself.
async def _policy(request: Request) -> AccessPolicy:
    return request.app.state.context.state["access_policy"]


async def _mapping(request: Request) -> Mapping:
    return request.app.state.context.state["mapping"]


PolicyDep = Annotated[AccessPolicy, Depends(_policy)]
MappingDep = Annotated[Mapping, Depends(_mapping)]


def _checked(subject: SubjectTable, key: str) -> str:
    validate = validate_uscc if subject is LEGAL_ENTITY else validate_ric
    try:
        return validate(key.strip().upper())
    except ValueError as exc:
        raise Problem(
            422,
            "validation_failed",
            str(exc),
            errors=[{"path": f"path:$.{subject.key}", "message": str(exc)}],
        ) from None


def _cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit():
        raise Problem(
            422,
            "validation_failed",
            "the cursor is not one this API returned",
            errors=[{"path": "query:$.after", "message": "expected a cursor from `next`"}],
        )
    return int(after)


def _next(value: int | None) -> str | None:
    return str(value) if value is not None else None


def _subject_routes(subject: SubjectTable, segment: str) -> None:
    name = subject.kind.replace("_", " ")

    async def get_one(
        key: str,
        request: Request,
        principal: Reader,
        policy: PolicyDep,
        purpose: Purpose = "unspecified",
        as_of: Annotated[date | None, Query(description="Valid time (business date).")] = None,
        known_at: Annotated[
            datetime | None, Query(description="Recorded time: what the registry knew then.")
        ] = None,
    ) -> Response:
        key = _checked(subject, key)
        view = policy.view(principal, subject.kind)
        if as_of is None and known_at is None:
            # One statement reads and logs, no session. (A request that succeeds here is
            # mostly answered before routing: lookup/fast_path.py.)
            context = request.app.state.context
            shown = await lookup.current_record(context, subject, key, principal, view, purpose)
            if shown is None:
                raise not_found(name, key)
            return Response(shown, media_type="application/json")
        async with request.app.state.context.db.session() as session:
            found = await lookup.get_subject(
                session,
                subject=subject,
                key=key,
                as_of=as_of,
                known_at=ensure_utc(known_at) if known_at else None,
            )
            if found is None:
                raise not_found(name, key)
            attributes = view.shape(found[0])
            await lookup.log_access(
                session,
                principal=principal,
                subject=subject,
                reads=[(key, sorted(attributes))],
                purpose=purpose,
                action="get",
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
        limit: Limit = 100,
        after: str | None = None,
    ) -> Page[AttributeValuePublic]:
        key = _checked(subject, key)
        view = policy.view(principal, subject.kind)
        if await lookup.get_subject(session, subject=subject, key=key) is None:
            raise not_found(name, key)
        granted = None if view.allows("*") else frozenset(view.fields)
        position = None
        if after is not None:
            row_id, _, attribute = after.partition(":")
            position = (_cursor(row_id) or 0, attribute)
        items, following = await lookup.history(
            session, subject=subject, key=key, attributes=granted, limit=limit, after=position
        )
        for item in items:
            item["value"] = view.shape({item["attribute"]: item["value"]})[item["attribute"]]
        await lookup.log_access(
            session,
            principal=principal,
            subject=subject,
            reads=[(key, sorted({i["attribute"] for i in items}))],
            purpose=purpose,
            action="history",
        )
        cursor = f"{following[0]}:{following[1]}" if following else None
        return Page(data=[AttributeValuePublic(**i) for i in items], next=cursor)

    async def get_registrations(
        key: str,
        session: SessionDep,
        principal: Reader,
        policy: PolicyDep,
        purpose: Purpose = "unspecified",
    ) -> Page[RegistrationPublic]:
        key = _checked(subject, key)
        view = policy.view(principal, subject.kind)
        if not view.allows("registrations"):
            raise forbidden(
                f"agency {principal.agency} is not granted the registrations of a {name}"
            )
        if await lookup.get_subject(session, subject=subject, key=key) is None:
            raise not_found(name, key)
        items = await lookup.registrations(session, subject=subject, key=key)
        await lookup.log_access(
            session,
            principal=principal,
            subject=subject,
            reads=[(key, ["registrations"])],
            purpose=purpose,
            action="registrations",
        )
        return Page(data=[RegistrationPublic(**i) for i in items])

    async def search(
        session: SessionDep,
        principal: Reader,
        policy: PolicyDep,
        name: Annotated[str, Query(min_length=2, max_length=100)],
        purpose: Purpose = "unspecified",
        limit: Annotated[int, Query(ge=1, le=50)] = 20,
    ) -> Page[SearchHit]:
        view = policy.view(principal, subject.kind)
        if not view.allows("name"):
            raise forbidden(f"agency {principal.agency} is not granted the names of a {name}")
        hits = await lookup.search_by_name(session, subject=subject, name=name, limit=limit)
        shaped = [{**h, "attributes": view.shape(h["attributes"])} for h in hits]
        await lookup.log_access(
            session,
            principal=principal,
            subject=subject,
            reads=[(h["id"], sorted(h["attributes"])) for h in shaped],
            purpose=purpose,
            action="search",
        )
        return Page(data=[SearchHit(**h) for h in shaped])

    param = "{" + subject.key + "}"
    _add(f"/{segment}/{param}", get_one, SubjectPublic, f"A {name} (current, or as of a date)")
    _add(
        f"/{segment}/{param}/history",
        get_history,
        Page[AttributeValuePublic],
        f"History of a {name}",
    )
    _add(
        f"/{segment}/{param}/registrations",
        get_registrations,
        Page[RegistrationPublic],
        f"Registrations of a {name}",
    )
    _add(f"/{segment}", search, Page[SearchHit], f"Search {name}s by name")


def _add(path: str, endpoint: Callable[..., Any], model: Any, summary: str) -> None:
    # The path parameter is named after the key (uscc, id_number); the functions take `key`.
    key = path.split("{")[1].split("}")[0] if "{" in path else None

    if key is None:
        router.add_api_route(path, endpoint, methods=["GET"], response_model=model, summary=summary)
        return
    import inspect

    signature = inspect.signature(endpoint)
    params = [p.replace(name=key) if p.name == "key" else p for p in signature.parameters.values()]

    async def renamed(**kwargs: Any) -> Any:
        kwargs["key"] = kwargs.pop(key)
        return await endpoint(**kwargs)

    renamed.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    renamed.__name__ = endpoint.__name__ + "_" + key
    router.add_api_route(path, renamed, methods=["GET"], response_model=model, summary=summary)


_subject_routes(LEGAL_ENTITY, "legal-entities")
_subject_routes(PERSON, "persons")


@router.get(
    "/persons/{id_number}/access-log",
    response_model=Page[AccessLogPublic],
    summary="Who read this person's data (for a citizen's request)",
)
async def person_access_log(
    id_number: str,
    session: SessionDep,
    operator: Operator,
    limit: Limit = 100,
    after: str | None = None,
) -> Page[AccessLogPublic]:
    key = _checked(PERSON, id_number)
    items, following = await lookup.access_log(
        session, subject=PERSON, key=key, limit=limit, after=_cursor(after)
    )
    return Page(data=[AccessLogPublic(**i) for i in items], next=_next(following))


@router.get("/conflicts", response_model=Page[ConflictPublic], summary="Conflicts between agencies")
async def list_conflicts(
    session: SessionDep,
    operator: Operator,
    status: Annotated[str | None, Query(pattern="^(open|settled|resolved)$")] = "open",
    subject_kind: Annotated[str | None, Query(pattern="^(legal_entity|person)$")] = None,
    subject_id: str | None = None,
    limit: Limit = 100,
    after: str | None = None,
) -> Page[ConflictPublic]:
    items, following = await conflicts.list_conflicts(
        session,
        status=status,
        subject_kind=subject_kind,
        subject_id=subject_id,
        limit=limit,
        after=_cursor(after),
    )
    return Page(data=[ConflictPublic(**i) for i in items], next=_next(following))


@router.post(
    "/conflicts/{conflict_id}/settle",
    response_model=ConflictPublic,
    summary="Mark a conflict settled (an operator has dealt with it)",
)
async def settle_conflict(
    conflict_id: int, body: ConflictSettle, session: SessionDep, operator: Operator
) -> ConflictPublic:
    row = await conflicts.settle_conflict(
        session, conflict_id=conflict_id, settled_by=operator.agency, note=body.note
    )
    return ConflictPublic(**row)


@router.get(
    "/review-queue", response_model=Page[ReviewPublic], summary="Records awaiting a match decision"
)
async def list_review_queue(
    session: SessionDep,
    operator: Operator,
    status: Annotated[str | None, Query(pattern="^(pending|linked|rejected)$")] = "pending",
    limit: Limit = 100,
    after: str | None = None,
) -> Page[ReviewPublic]:
    items, following = await review.list_reviews(
        session, status=status, limit=limit, after=_cursor(after)
    )
    return Page(data=[ReviewPublic(**i) for i in items], next=_next(following))


@router.post(
    "/review-queue/{review_id}/resolve",
    response_model=ReviewPublic,
    summary="Link a record to a subject, or reject the match",
)
async def resolve_review(
    review_id: int,
    body: ReviewResolve,
    session: SessionDep,
    operator: Operator,
    mapping: MappingDep,
) -> ReviewPublic:
    row = await review.resolve_review(
        session,
        review_id=review_id,
        decision=body.decision,
        linked_id=body.id,
        resolved_by=operator.agency,
        mapping=mapping,
    )
    return ReviewPublic(**row)


@router.get(
    "/match-decisions",
    response_model=Page[MatchDecisionPublic],
    summary="Every matching decision, automatic or by an operator",
)
async def list_match_decisions(
    session: SessionDep,
    operator: Operator,
    topic: str | None = None,
    seq: int | None = None,
    limit: Limit = 100,
    after: str | None = None,
) -> Page[MatchDecisionPublic]:
    items, following = await list_decisions(
        session, topic=topic, seq=seq, limit=limit, after=_cursor(after)
    )
    return Page(data=[MatchDecisionPublic(**i) for i in items], next=_next(following))


@router.get(
    "/unmapped-records",
    response_model=Page[UnmappedPublic],
    summary="Records the registry could not use, with the reason",
)
async def list_unmapped(
    session: SessionDep,
    operator: Operator,
    topic: str | None = None,
    limit: Limit = 100,
    after: str | None = None,
) -> Page[UnmappedPublic]:
    items, following = await review.list_unmapped(
        session, topic=topic, limit=limit, after=_cursor(after)
    )
    return Page(data=[UnmappedPublic(**i) for i in items], next=_next(following))


__all__ = ["View", "router"]
