"""JSON logs with request and trace ids, and masking of ID and phone numbers in every line."""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import Any

import orjson

from govhub_common.identifiers import mask_mobile, mask_ric, mask_uscc

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)

# A resident ID is 18 characters (17 digits and a check digit or X) or, first-generation,
# 15 digits (ASCII digits: what IDs are written in). Bounded by digits only: a letter beside it ("ID440103192611063699") does not
# hide it. Any longer run of digits is masked too (err on masking: an ID glued to another
# number must not survive whole); shorter numbers (record ids, seqs, epoch milliseconds)
# stay readable.
_RIC = re.compile(r"(?<![0-9])[0-9]{15,}[Xx]?")
# A mainland mobile: 11 digits from 13-19, with at most one separator (space or hyphen)
# between any two digits, optionally after +86 / 0086 / 86 / (+86): "138-0013-8000",
# "+86 138 0013 8000". Not the dot, which would take IPv4 addresses for mobiles.
_SEPARATOR = r"[ \t\u00a0\-]"
# Not after a digit, unless that digit ends a JSON escape: "\u0007" before a mobile.
_NOT_AFTER_A_DIGIT = r"(?:(?<![0-9])|(?<=\\u[0-9A-Fa-f]{4}))"
_MOBILE = re.compile(
    rf"{_NOT_AFTER_A_DIGIT}(\(?(?:\+|00)?86\)?{_SEPARATOR}*)?"
    rf"(1{_SEPARATOR}?[3-9](?:{_SEPARATOR}?[0-9]){{9}})(?![0-9])"
)
_USCC = re.compile(r"(?<![0-9A-Z])([0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10})(?![0-9A-Z])")
# What a failed statement carries of the data: SQLAlchemy's "[parameters: ...]" (the engine
# hides them too, govhub_common.db) and PostgreSQL's DETAIL line ("Key (id)=(...)").
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
_SQL_DETAIL = re.compile(r"DETAIL: [^\n]*")


def mask_text(text: str, *, uscc: bool = False) -> str:
    """The text with ID numbers and mobiles masked, and the values a failed SQL statement
    carries (bound parameters, PostgreSQL's DETAIL) left out."""
    text = _SQL_PARAMETERS.sub("[parameters hidden]", text)
    text = _SQL_DETAIL.sub("DETAIL: (hidden)", text)
    text = _RIC.sub(lambda m: mask_ric(m.group(0)), text)
    if uscc:
        text = _USCC.sub(lambda m: mask_uscc(m.group(0)), text)
    return _MOBILE.sub(_masked_mobile, text)


def _masked_mobile(match: re.Match[str]) -> str:
    digits = re.sub(r"[^0-9]", "", match.group(2))
    return (match.group(1) or "") + mask_mobile(digits)


class MaskingFilter(logging.Filter):
    """Renders each record's message, masks it, and freezes the result on the record."""

    def __init__(self, *, uscc: bool = False) -> None:
        super().__init__()
        self.uscc = uscc

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = mask_text(message, uscc=self.uscc)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, uscc=self.uscc)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (rid := request_id_var.get()) is not None:
            entry["request_id"] = rid
        if (tid := trace_id_var.get()) is not None:
            entry["trace_id"] = tid
        for key in ("service", "event_id", "event_type"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(level: str = "INFO", fmt: str = "json", *, mask_uscc: bool = False) -> None:
    """Install one stderr handler whose filter masks every record, whichever logger made it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_govhub", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._govhub = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(MaskingFilter(uscc=mask_uscc))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's own handlers would print unmasked access lines; route them through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
