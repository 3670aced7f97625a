"""The data steward's topics (主题): the agency's own topics from the exchange's catalog,
each with its data items, its schema versions and its quarantined records (records of a
publish request that failed validation, with their faults).

Everything comes from the exchange's public API with the person's own token: another
agency's quarantine answers here as the API answers it."""

from __future__ import annotations

from typing import Any, Final

from govhub_console.ops.service import PAGE_SIZE, Caller, segment

TOPICS: Final = "/exchange/v1/topics"

# Words of the API's values (literal keys, so the catalogs' test sees them used).
SHARING_WORDS: Final = {
    "unconditional": "topics.sharing_unconditional",
    "conditional": "topics.sharing_conditional",
    "not_shared": "topics.sharing_not_shared",
}
SENSITIVITY_WORDS: Final = {
    "public": "topics.sensitivity_public",
    "internal": "topics.sensitivity_internal",
    "sensitive": "topics.sensitivity_sensitive",
    "confidential": "topics.sensitivity_confidential",
}
# What the exchange assumes when a schema's property does not say (catalog/schema_rules.py).
DEFAULT_SENSITIVITY: Final = "internal"


def words(table: dict[str, str], value: str | None) -> str | None:
    """The catalog key of an API value, None for a value this console does not know (the
    page then shows the value itself)."""
    return table.get(value or "")


async def topic_list(api: Caller, *, cursor: str | None) -> dict[str, Any]:
    page = await api.get(TOPICS, owner=api.person.agency, cursor=cursor, limit=PAGE_SIZE)
    return {
        "topics": page["data"],
        "next_href": api.url("/topics", cursor=page["next"]) if page.get("next") else None,
        **page_words(),
    }


async def topic_page(api: Caller, *, code: str, cursor: str | None) -> dict[str, Any]:
    """The topic with its current data items and its versions; its quarantined records,
    one cursor page."""
    topic = await api.get(f"{TOPICS}/{segment(code)}")
    quarantine = await api.get(
        f"{TOPICS}/{segment(code)}/quarantine", cursor=cursor, limit=PAGE_SIZE
    )
    following = quarantine.get("next")
    return {
        "topic": topic,
        "items": topic["data_items"],
        "versions": list(range(int(topic["current_version"]), 0, -1)),
        "quarantined": quarantine["data"],
        "first_page": cursor is None,
        "next_href": api.url(f"/topics/{code}", cursor=following) if following else None,
        **page_words(),
    }


def schema_items(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A version's data items as its JSON Schema declares them (its properties)."""
    required = set(schema.get("required") or [])
    items = []
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        items.append(
            {
                "name": name,
                "title": spec.get("title") or "",
                "type": spec.get("type"),
                "format": spec.get("format"),
                "sensitivity": spec.get("x-sensitivity", DEFAULT_SENSITIVITY),
                "personal": bool(spec.get("x-personal", False)),
                "required": name in required,
            }
        )
    return items


async def version_page(api: Caller, *, code: str, version: int) -> dict[str, Any]:
    topic = await api.get(f"{TOPICS}/{segment(code)}")
    found = await api.get(f"{TOPICS}/{segment(code)}/versions/{version}")
    return {
        "topic": topic,
        "version": found["version"],
        "items": schema_items(found.get("schema") or {}),
        **page_words(),
    }


def page_words() -> dict[str, Any]:
    """What the templates need to put the API's values in words."""
    return {
        "sharing_word": lambda value: words(SHARING_WORDS, value),
        "sensitivity_word": lambda value: words(SENSITIVITY_WORDS, value),
    }
