"""Templates: validated on write, rendered (and counted in billed parts) on use."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from govhub_common.city.format import validated_specs
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found
from govhub_sms.templates.models import Template as TemplateRow
from govhub_sms.templates.rendering import (
    SIGNATURE,
    Rendered,
    TemplateTextError,
    placeholders,
    render,
    sample_params,
)
from govhub_sms.templates.schemas import TemplateCreate, TemplatePublic, TemplateUpdate
from govhub_sms.text import count_segments


@dataclass(frozen=True)
class Template:
    code: str
    title: str
    signature: str
    body: str
    category: str
    params: list[str]
    opt_out_allowed: bool
    version: int
    active: bool
    created_at: Any
    updated_at: Any

    @classmethod
    def of(cls, row: TemplateRow) -> Template:
        return cls(
            code=row.code,
            title=row.title,
            signature=row.signature,
            body=row.body,
            category=row.category,
            params=list(row.params),
            opt_out_allowed=row.opt_out_allowed,
            version=row.version,
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def render(self, params: dict[str, Any], *, path: str = "$.params") -> Rendered:
        return render(
            signature=self.signature,
            body=self.body,
            category=self.category,
            params=params,
            path=path,
        )

    def public(self) -> TemplatePublic:
        sample = self.render(sample_params(self.body)).text
        return TemplatePublic(
            code=self.code,
            title=self.title,
            signature=self.signature,
            body=self.body,
            category=self.category,
            params=self.params,
            opt_out_allowed=self.opt_out_allowed,
            version=self.version,
            active=self.active,
            example_segments=count_segments(sample).segments,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


def _invalid(errors: list[tuple[str, str]]) -> Problem:
    return Problem(
        ProblemCode.VALIDATION_FAILED,
        "invalid template at " + ", ".join(p for p, _ in errors[:5]),
        errors=[{"path": p, "message": m} for p, m in errors],
    )


def _check(signature: str, body: str) -> list[str]:
    faults: list[tuple[str, str]] = []
    if not SIGNATURE.match(signature):
        faults.append(("$.signature", "must read 【name】 with 2 to 30 characters inside"))
    try:
        names = placeholders(body)
    except TemplateTextError as exc:
        faults += exc.errors
        names = []
    if faults:
        raise _invalid(faults)
    return names


async def get_template(session: AsyncSession, *, code: str) -> Template | None:
    # populate_existing: always read the row, never the session's copy from before a write.
    row = await session.get(TemplateRow, code, populate_existing=True)
    return Template.of(row) if row else None


async def templates_by_code(session: AsyncSession, *, codes: list[str]) -> dict[str, Template]:
    # = ANY(one array parameter), not IN (one parameter per code): one statement shape for
    # any batch, so the submit path keeps reusing its prepared statement.
    codes_param = sa.bindparam("codes", list(set(codes)), type_=ARRAY(sa.Text))
    rows = await session.execute(
        select(TemplateRow)
        .where(col(TemplateRow.code) == sa.any_(codes_param))
        .execution_options(populate_existing=True)
    )
    return {row.code: Template.of(row) for row in rows.scalars()}


async def list_templates(session: AsyncSession, *, limit: int, after: str | None) -> list[Template]:
    """Templates by code after the code `after`: up to limit + 1."""
    statement = select(TemplateRow)
    if after is not None:
        statement = statement.where(col(TemplateRow.code) > after)
    rows = await session.execute(
        statement.order_by(col(TemplateRow.code))
        .limit(limit + 1)
        .execution_options(populate_existing=True)
    )
    return [Template.of(row) for row in rows.scalars()]


async def upsert_template(
    session: AsyncSession, *, data: TemplateCreate, notification_opt_out: bool, replace: bool
) -> tuple[Template, bool]:
    """Create a template through the API, or (replace=True) install it from the startup
    file: created when new, rewritten when the file changed it, unless the API changed the
    template since (the API wins, as for rules); returns it and whether it is new."""
    names = _check(data.signature, data.body)
    opt_out = True if data.category == "marketing" else data.opt_out_allowed
    if opt_out is None:
        opt_out = notification_opt_out
    statement = insert(TemplateRow).values(
        code=data.code,
        title=data.title,
        signature=data.signature,
        body=data.body,
        category=data.category,
        params=names,
        opt_out_allowed=opt_out,
        source="file" if replace else "api",
    )
    if replace:
        new = statement.excluded
        # The API wins: only a row the file wrote last is rewritten, and only when the
        # file's text differs from it.
        statement = statement.on_conflict_do_update(
            index_elements=[col(TemplateRow.code)],
            set_={
                "title": new.title,
                "signature": new.signature,
                "body": new.body,
                "category": new.category,
                "params": new.params,
                "opt_out_allowed": new.opt_out_allowed,
                "active": sa.true(),
                "updated_at": sa.func.now(),
                "version": col(TemplateRow.version) + 1,
            },
            where=sa.and_(
                col(TemplateRow.source) == "file",
                sa.tuple_(
                    col(TemplateRow.title),
                    col(TemplateRow.signature),
                    col(TemplateRow.body),
                    col(TemplateRow.category),
                    col(TemplateRow.opt_out_allowed),
                    col(TemplateRow.active),
                ).is_distinct_from(
                    sa.tuple_(
                        new.title,
                        new.signature,
                        new.body,
                        new.category,
                        new.opt_out_allowed,
                        sa.true(),
                    )
                ),
            ),
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=[col(TemplateRow.code)])
    # xmax = 0 stays SQL: PostgreSQL's only sign that the upsert inserted rather than updated.
    created = sa.literal_column("(xmax = 0)", sa.Boolean).label("created")
    row = (await session.execute(statement.returning(created))).first()
    if row is None and not replace:
        raise Problem(
            ProblemCode.CONFLICT, f"template {data.code} already exists; use PATCH to change it"
        )
    template = await get_template(session, code=data.code)
    assert template is not None
    return template, bool(row and row.created)


async def update_template(
    session: AsyncSession, *, code: str, data: TemplateUpdate, notification_opt_out: bool
) -> Template:
    current = await get_template(session, code=code)
    if current is None:
        raise not_found("template", code)
    changes = data.model_dump(exclude_unset=True)
    merged = TemplateCreate(
        code=code,
        title=changes.get("title") if changes.get("title") is not None else current.title,
        signature=changes.get("signature") or current.signature,
        body=changes.get("body") or current.body,
        category=changes.get("category") or current.category,
        opt_out_allowed=changes.get("opt_out_allowed", current.opt_out_allowed),
    )
    names = _check(merged.signature, merged.body)
    opt_out = True if merged.category == "marketing" else bool(merged.opt_out_allowed)
    await session.execute(
        sa.update(TemplateRow)
        .where(col(TemplateRow.code) == code)
        .values(
            title=merged.title,
            signature=merged.signature,
            body=merged.body,
            category=merged.category,
            params=names,
            opt_out_allowed=opt_out,
            active=changes.get("active", current.active)
            if changes.get("active") is not None
            else current.active,
            version=col(TemplateRow.version) + 1,
            updated_at=sa.func.now(),
            # The API wins: the city's files never rewrite this template again.
            source="api",
        )
        # The UPDATE as written, no RETURNING added to sync the session: get_template
        # reads the row again.
        .execution_options(synchronize_session=False)
    )
    template = await get_template(session, code=code)
    assert template is not None
    return template


async def install_city_templates(
    session: AsyncSession, *, path: Path, notification_opt_out: bool
) -> list[str]:
    """Install the SmsTemplate documents of a city's files (GOVHUB_CITY_FILES, at every
    start) as upsert_template(replace=True) decides: a new code is created, a changed one
    becomes a new version, one changed through the API since is left alone. Returns the
    codes the files hold; a mistake raises InvalidCity, naming its place."""
    templates = await asyncio.to_thread(
        validated_specs, path, "SmsTemplate", TemplateCreate.model_validate
    )
    for _origin, template in templates:
        await upsert_template(
            session, data=template, notification_opt_out=notification_opt_out, replace=True
        )
    return [template.code for _origin, template in templates]
