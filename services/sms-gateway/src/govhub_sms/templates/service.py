"""Templates: validated on write, rendered (and counted in billed parts) on use."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.city.format import validated_specs
from govhub_common.problems import Problem, not_found
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

_COLUMNS = (
    "code, title, signature, body, category, params, opt_out_allowed, version, active, "
    "created_at, updated_at"
)


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
        422,
        "validation_failed",
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
    row = (
        (
            await session.execute(
                sa.text(f"SELECT {_COLUMNS} FROM sms.templates WHERE code = :code"), {"code": code}
            )
        )
        .mappings()
        .first()
    )
    return Template(**row) if row else None


async def templates_by_code(session: AsyncSession, *, codes: list[str]) -> dict[str, Template]:
    rows = (
        await session.execute(
            sa.text(f"SELECT {_COLUMNS} FROM sms.templates WHERE code = ANY(:codes)"),
            {"codes": list(set(codes))},
        )
    ).mappings()
    return {row["code"]: Template(**row) for row in rows}


async def list_templates(session: AsyncSession, *, limit: int, after: str | None) -> list[Template]:
    """Templates by code after the code `after`: up to limit + 1."""
    rows = (
        await session.execute(
            sa.text(
                f"SELECT {_COLUMNS} FROM sms.templates "
                "WHERE CAST(:after AS text) IS NULL OR code > :after ORDER BY code LIMIT :limit"
            ),
            {"after": after, "limit": limit + 1},
        )
    ).mappings()
    return [Template(**row) for row in rows]


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
    conflict = (
        "ON CONFLICT (code) DO UPDATE SET title = EXCLUDED.title, signature = EXCLUDED.signature, "
        "body = EXCLUDED.body, category = EXCLUDED.category, params = EXCLUDED.params, "
        "opt_out_allowed = EXCLUDED.opt_out_allowed, active = true, updated_at = now(), "
        "version = sms.templates.version + 1 "
        "WHERE sms.templates.source = 'file' AND (sms.templates.title, sms.templates.signature, sms.templates.body, "
        "sms.templates.category, sms.templates.opt_out_allowed, sms.templates.active) "
        "IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.signature, EXCLUDED.body, "
        "EXCLUDED.category, EXCLUDED.opt_out_allowed, true)"
        if replace
        else "ON CONFLICT (code) DO NOTHING"
    )
    row = (
        await session.execute(
            sa.text(
                "INSERT INTO sms.templates (code, title, signature, body, category, params, "
                "opt_out_allowed, source) VALUES (:code, :title, :signature, :body, :category, "
                f":params, :opt_out, :source) {conflict} RETURNING (xmax = 0) AS created"
            ),
            {
                "code": data.code,
                "title": data.title,
                "signature": data.signature,
                "body": data.body,
                "category": data.category,
                "params": names,
                "opt_out": opt_out,
                "source": "file" if replace else "api",
            },
        )
    ).first()
    if row is None and not replace:
        raise Problem(
            409, "conflict", f"template {data.code} already exists; use PATCH to change it"
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
        sa.text(
            "UPDATE sms.templates SET title = :title, signature = :signature, body = :body, "
            "category = :category, params = :params, opt_out_allowed = :opt_out, "
            "active = :active, version = version + 1, updated_at = now(), source = 'api' "
            "WHERE code = :code"
        ),
        {
            "code": code,
            "title": merged.title,
            "signature": merged.signature,
            "body": merged.body,
            "category": merged.category,
            "params": names,
            "opt_out": opt_out,
            "active": changes.get("active", current.active)
            if changes.get("active") is not None
            else current.active,
        },
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
