"""The SMS gateway's templates for an operator: the list, a template's text and a preview
of it rendered with sample parameters (nothing is sent)."""

from __future__ import annotations

from typing import Any, Final

from govhub_console.ops.service import PAGE_SIZE, ApiProblem, Caller, segment

TEMPLATES: Final = "/sms/v1/templates"
PARAM_PREFIX: Final = "param_"


async def template_list(api: Caller, *, cursor: str | None) -> dict[str, Any]:
    page = await api.get(TEMPLATES, cursor=cursor, limit=PAGE_SIZE)
    return {
        "templates": page["data"],
        "next_href": api.url("/sms-templates", cursor=page["next"]) if page.get("next") else None,
    }


async def template_page(
    api: Caller, *, code: str, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """The template; with `params`, its preview (or the gateway's problem with them)."""
    template = await api.get(f"{TEMPLATES}/{segment(code)}")
    preview = problem = None
    if params is not None:
        try:
            preview = await api.call(
                "POST", f"{TEMPLATES}/{segment(code)}/render", json={"params": params}
            )
        except ApiProblem as refused:
            problem = refused
    samples = params or {}
    return {"template": template, "preview": preview, "problem": problem, "samples": samples}


def sample_fields(template_params: list[str]) -> dict[str, int]:
    """The preview form's fields: one per parameter of the template (value up to 100)."""
    return {f"{PARAM_PREFIX}{name}": 100 for name in template_params}


def sample_params(form: dict[str, str]) -> dict[str, str]:
    return {
        name.removeprefix(PARAM_PREFIX): value
        for name, value in form.items()
        if name.startswith(PARAM_PREFIX)
    }
