"""Template text: named placeholders `{name}`, the 【signature】, and rendering.

A parameter whose value is a calendar date written `YYYY-MM-DD` (as alerting passes
`$deadline`) is written in Chinese, `2008年1月31日`, unless the placeholder gives its own
format: `{deadline:%Y-%m-%d}` (directives `%Y`, `%m`, `%d`, `%-m`, `%-d`, `%%`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from govhub_sms.text import SegmentInfo, count_segments

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# A date format after the name: literal text and strftime's date directives, no braces.
DATE_FORMAT = re.compile(r"^(?:[^{}%\x00]|%[Ymd%]|%-[md]){1,40}$")
CHINESE_DATE = "%Y年%-m月%-d日"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DIRECTIVE = re.compile(r"%(-?[Ymd%])")
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


def _split_placeholder(inside: str) -> tuple[str, str | None]:
    """`name` or `name:format` -> (name, format or None)."""
    name, colon, spec = inside.partition(":")
    return name, (spec if colon else None)


def format_date(day: date, spec: str | None) -> str:
    """The date as `spec` (default Chinese: 2008年1月31日) writes it."""
    parts = {
        "Y": f"{day.year:04d}",
        "m": f"{day.month:02d}",
        "d": f"{day.day:02d}",
        "-m": str(day.month),
        "-d": str(day.day),
        "%": "%",
    }
    return _DIRECTIVE.sub(lambda m: parts[m.group(1)], spec or CHINESE_DATE)


def _as_date(text: str) -> date | None:
    if not _ISO_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def placeholders(body: str) -> list[str]:
    """The parameter names of a body, in order of first use; raises on malformed braces."""
    names: list[str] = []
    faults: list[tuple[str, str]] = []
    for match in PLACEHOLDER.finditer(body):
        name, spec = _split_placeholder(match.group(1))
        if not PARAM_NAME.match(name):
            faults.append(
                ("$.body", f"placeholder {{{name}}} is not a parameter name [a-z][a-z0-9_]*")
            )
        elif spec is not None and not DATE_FORMAT.match(spec):
            faults.append(
                (
                    "$.body",
                    f"placeholder {{{name}:{spec}}}: a date format of text and %Y %m %d %-m %-d",
                )
            )
        elif name not in names:
            names.append(name)
    if "{" in PLACEHOLDER.sub("", body) or "}" in PLACEHOLDER.sub("", body):
        faults.append(("$.body", "unbalanced brace: placeholders are written {name}"))
    if faults:
        raise TemplateTextError(faults)
    return names


def sample_params(body: str) -> dict[str, str]:
    """Stand-in values to count a template's parts by: a date for a date-formatted one."""
    samples: dict[str, str] = {}
    for match in PLACEHOLDER.finditer(body):
        name, spec = _split_placeholder(match.group(1))
        if spec is not None or name not in samples:
            samples[name] = "2024-12-31" if spec is not None else "示例文字"
    return samples


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
    written: dict[str, str] = {}  # each placeholder as the text says it, date or not
    for match in PLACEHOLDER.finditer(body):
        name, spec = _split_placeholder(match.group(1))
        if name not in values:
            continue
        day = _as_date(values[name])
        if day is not None:
            written[match.group(1)] = format_date(day, spec)
        elif spec is not None:
            fault = (f"{path}.{name}", "must be a date (YYYY-MM-DD): the template formats it")
            if fault not in faults:
                faults.append(fault)
        else:
            written[match.group(1)] = values[name]
    if faults:
        raise TemplateTextError(faults)
    filled = PLACEHOLDER.sub(lambda m: written[m.group(1)], body)
    full = signature + filled + (OPT_OUT_SUFFIX if category == "marketing" else "")
    if PLACEHOLDER.search(full):  # defence in depth: never send an unrendered placeholder
        raise TemplateTextError([(path, "the rendered text still holds a placeholder")])
    return Rendered(full, count_segments(full))


def is_opt_out_reply(text: str) -> bool:
    return text.strip().upper() in OPT_OUT_REPLIES
