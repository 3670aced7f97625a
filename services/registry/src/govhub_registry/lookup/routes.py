"""The registries through the API: a person or legal entity by ID (now, as of a date, as
known at a time), its history and registrations, and search by name. Both kinds of subject
get the same four operations, made by `_subject_routes`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.inputs import NO_NUL
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor
from govhub_common.problems import not_found
from govhub_registry.deps import PolicyDep, Reader
from govhub_registry.fields import (
    UNSPECIFIED_PURPOSE,
    BusinessDate,
    DateTime,
    Purpose,
    canonical_id,
    key_type,
)
from govhub_registry.lookup import service
from govhub_registry.lookup.schemas import (
    AttributeValuePublic,
    RegistrationPublic,
    SearchHit,
    SubjectPublic,
)
from govhub_registry.state import registry_state
from govhub_registry.subjects import LEGAL_ENTITY, PERSON, SubjectTable

router = APIRouter(prefix="/v1")
# Beyond the standard problems (401, 403 insufficient_scope, 404, 422, 503, added to every
# operation by govhub_common.contract): what each operation can also answer.
_LIST = problem_responses(ProblemCode.INVALID_CURSOR)
_FORBIDDEN = problem_responses(ProblemCode.INSUFFICIENT_SCOPE, ProblemCode.FORBIDDEN)


def _subject_routes(subject: SubjectTable, segment: str, plural: str) -> None:
    label = subject.label
    key_name = "USCC" if subject is LEGAL_ENTITY else "resident ID number"

    async def get_one(
        key: str,
        request: Request,
        principal: Reader,
        policy: PolicyDep,
        purpose: Purpose = UNSPECIFIED_PURPOSE,
        as_of: Annotated[
            BusinessDate | None, Query(description="Valid time (business date).")
        ] = None,
        known_at: Annotated[
            DateTime | None, Query(description="Recorded time: what the registry knew then.")
        ] = None,
    ) -> Response:
        key = canonical_id(subject, key)
        context = request.app.state.context
        if as_of is None and known_at is None:
            # One statement reads and logs, no session. (A request that succeeds here is
            # mostly answered before routing, by lookup/fast_path.py with the same function.)
            body = await service.current_record(
                registry_state(context),
                subject=subject,
                key=key,
                principal=principal,
                purpose=purpose,
            )
            if body is None:
                raise not_found(label, key)
            return Response(body, media_type="application/json")
        async with context.db.session() as session:
            found = await service.subject_as_of(
                session,
                policy=policy,
                principal=principal,
                subject=subject,
                key=key,
                as_of=as_of,
                known_at=known_at,
                purpose=purpose,
            )
        # Already a validated SubjectPublic: skip FastAPI's second validation pass.
        return Response(found.model_dump_json(), media_type="application/json")

    async def get_history(
        key: str,
        session: SessionDep,
        principal: Reader,
        policy: PolicyDep,
        purpose: Purpose = UNSPECIFIED_PURPOSE,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[AttributeValuePublic]:
        key = canonical_id(subject, key)
        after = decode_cursor(cursor, int, str)
        return await service.history_page(
            session,
            policy=policy,
            principal=principal,
            subject=subject,
            key=key,
            purpose=purpose,
            limit=limit,
            after=(after[0], after[1]) if after else None,
        )

    async def get_registrations(
        key: str,
        session: SessionDep,
        principal: Reader,
        policy: PolicyDep,
        purpose: Purpose = UNSPECIFIED_PURPOSE,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[RegistrationPublic]:
        key = canonical_id(subject, key)
        after = decode_cursor(cursor, str, str)
        return await service.registrations_page(
            session,
            policy=policy,
            principal=principal,
            subject=subject,
            key=key,
            purpose=purpose,
            limit=limit,
            after=(after[0], after[1]) if after else None,
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
        purpose: Purpose = UNSPECIFIED_PURPOSE,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[SearchHit]:
        after = decode_cursor(cursor, float, str)
        return await service.search_page(
            session,
            policy=policy,
            principal=principal,
            subject=subject,
            name=name,
            purpose=purpose,
            limit=limit,
            after=(after[0], after[1]) if after else None,
        )

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
        signature = inspect.signature(endpoint)
        subject = LEGAL_ENTITY if key == LEGAL_ENTITY.key else PERSON
        params = [
            p.replace(name=key, annotation=key_type(subject)) if p.name == "key" else p
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
