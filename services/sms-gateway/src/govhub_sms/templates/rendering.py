"""Template text: named placeholders `{name}`, the 【signature】, and rendering."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from govhub_sms.text import SegmentInfo, count_segments

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SIGNATURE = re.compile(r"^【[^【】\s]{2,30}】$")
# Carriers require marketing texts to say how to opt out; these are the replies we honour.
OPT_OUT_SUFFIX = "回TD退订"
OPT_OUT_REPLIES = frozenset({"TD", "T", "N", "退订", "TD退订", "取消"})
MAX_PARAM_LENGTH = 100
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class TemplateTextError(ValueError):
    """Faults in a template's text, each as (JSON path, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


def placeholders(body: str) -> list[str]:
    """The parameter names of a body, in order of first use; raises on malformed braces."""
    names: list[str] = []
    faults: list[tuple[str, str]] = []
    for match in PLACEHOLDER.finditer(body):
        name = match.group(1)
        if not PARAM_NAME.match(name):
            faults.append(
                ("$.body", f"placeholder {{{name}}} is not a parameter name [a-z][a-z0-9_]*")
            )
        elif name not in names:
            names.append(name)
    if "{" in PLACEHOLDER.sub("", body) or "}" in PLACEHOLDER.sub("", body):
        faults.append(("$.body", "unbalanced brace: placeholders are written {name}"))
    if faults:
        raise TemplateTextError(faults)
    return names


@dataclass(frozen=True)
class Rendered:
    text: str
    segments: SegmentInfo


def render(
    *, signature: str, body: str, category: str, params: dict[str, Any], path: str = "$.params"
) -> Rendered:
    """The full text as sent; raises TemplateTextError naming each bad or missing parameter."""
    expected = placeholders(body)
    faults: list[tuple[str, str]] = []
    values: dict[str, str] = {}
    for name in expected:
        if name not in params or params[name] is None:
            faults.append((f"{path}.{name}", "missing parameter"))
            continue
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            faults.append((f"{path}.{name}", "must be a string or a number"))
            continue
        text = str(value).strip()
        if not text:
            faults.append((f"{path}.{name}", "must not be empty"))
        elif len(text) > MAX_PARAM_LENGTH:
            faults.append((f"{path}.{name}", f"at most {MAX_PARAM_LENGTH} characters"))
        elif "{" in text or "}" in text or _CONTROL.search(text):
            faults.append((f"{path}.{name}", "must not contain braces or control characters"))
        else:
            values[name] = text
    for name in params:
        if name not in expected:
            faults.append((f"{path}.{name}", "unknown parameter for this template"))
    if faults:
        raise TemplateTextError(faults)
    filled = PLACEHOLDER.sub(lambda m: values[m.group(1)], body)
    full = signature + filled + (OPT_OUT_SUFFIX if category == "marketing" else "")
    if PLACEHOLDER.search(full):  # defence in depth: never send an unrendered placeholder
        raise TemplateTextError([(path, "the rendered text still holds a placeholder")])
    return Rendered(full, count_segments(full))


def is_opt_out_reply(text: str) -> bool:
    return text.strip().upper() in OPT_OUT_REPLIES
