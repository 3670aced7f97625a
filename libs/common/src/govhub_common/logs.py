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

# Digits not preceded or followed by another digit, so longer numbers are left alone.
_RIC = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(\+?86[\s-]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_USCC = re.compile(r"(?<![0-9A-Z])([0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10})(?![0-9A-Z])")


def mask_text(text: str, *, uscc: bool = False) -> str:
    text = _RIC.sub(lambda m: mask_ric(m.group(0)), text)
    if uscc:
        text = _USCC.sub(lambda m: mask_uscc(m.group(0)), text)
    return _MOBILE.sub(
        lambda m: (m.group(1) or "") + mask_mobile(m.group(2) + m.group(3) + m.group(4)), text
    )


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
