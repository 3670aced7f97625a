"""Turning a publish request body into records, one fault per record rather than per batch."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from govhub_common.inputs import INTEGER_MAX
from govhub_common.inputs import business_time as business_time_of
from govhub_common.json_input import (
    StrictJsonDecoder,
    duplicate_key_paths,
    duplicate_keys_problem,
    duplicated_keys,
    key_text,
    may_have_duplicate_keys,
    text_faults,
    unstorable_faults,
)
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem

JSON_TYPES = {"application/json"}
NDJSON_TYPES = {
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/jsonlines",
}
_ENVELOPE_KEYS = {"record_id", "data", "business_time", "schema_version"}
# How much of a record's SHA-256 content hash is kept and compared (migration 0016).
CONTENT_HASH_BYTES = 16


@dataclass
class Incoming:
    """One record of a publish request, as far as it could be read."""

    index: int
    line: int | None
    raw: Any = None
    record_id: str | None = None
    data: dict[str, Any] | None = None
    business_time: datetime | None = None
    schema_version: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    content_hash: bytes = b""
    data_json: bytes = b""  # the data as stored, keys sorted
    payload_text: str | None = None  # for lines that did not parse
    duplicate_keys: list[str] = field(default_factory=list)  # paths of keys given twice
    # The JSON Schema keyword each schema fault broke, by the fault's path (format, required
    # ...): the data-quality figures count faults by item and rule (quality/tally.py).
    fault_rules: dict[str, str] = field(default_factory=dict)


# Parsed by orjson (the hot path); a key given twice (a record's own fault) is looked for
# with the strict decoder only where may_have_duplicate_keys says it may be.
def split_body(content_type: str, body: bytes, *, max_records: int) -> list[Incoming]:
    media = content_type.split(";")[0].strip().lower()
    if media in JSON_TYPES:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            per_line = _array_lines(body, max_records=max_records)
            if per_line is not None:
                return per_line
            raise Problem(
                ProblemCode.MALFORMED_JSON,
                f"the body is not valid JSON ({exc}); send NDJSON to have bad lines rejected one by one",
                errors=[{"path": "$", "message": str(exc)}],
            ) from None
        # `{"records": [...]}` is the same batch as an object: the form generated clients
        # send (a body that is a bare array trips some generators).
        duplicates = may_have_duplicate_keys(body, parsed)
        if duplicates:
            parsed = _strictly(body, parsed)
            if isinstance(parsed, dict) and duplicated_keys(parsed):
                raise duplicate_keys_problem([f"$.{key_text(k)}" for k in duplicated_keys(parsed)])
        if isinstance(parsed, dict) and set(parsed) == {"records"}:
            parsed = parsed["records"]
        if not isinstance(parsed, list):
            raise Problem(
                ProblemCode.NOT_AN_ARRAY,
                'a JSON body must be an array of records, or {"records": [...]}',
                errors=[{"path": "$", "message": "expected an array of records"}],
            )
        _check_count(len(parsed), max_records)
        records = [Incoming(index=i, line=None, raw=value) for i, value in enumerate(parsed)]
        if duplicates:
            for record in records:
                record.duplicate_keys = duplicate_key_paths(record.raw, f"$[{record.index}]")
        return records
    if media in NDJSON_TYPES:
        items: list[Incoming] = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            item = Incoming(index=len(items), line=number)
            _parse_line(item, line, number)
            items.append(item)
            _check_count(len(items), max_records)
        return items
    raise Problem(
        ProblemCode.UNSUPPORTED_MEDIA_TYPE,
        "send application/json (an array) or application/x-ndjson (one record per line)",
    )


def _parse_line(item: Incoming, text: bytes, number: int, shown: bytes = b"") -> bool:
    """One record's line: its value, or its fault (then the line is kept as text)."""
    try:
        item.raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # NUL cannot be stored in text; the rest of an undecodable line is shown replaced.
        payload = (shown or text).decode("utf-8", errors="replace")[:10_000]
        item.payload_text = payload.replace("\x00", "\\u0000")
        item.errors.append(
            {"path": f"$[{item.index}]", "message": f"line {number} is not valid JSON: {exc}"}
        )
        return False
    if may_have_duplicate_keys(text, item.raw):
        item.raw = _strictly(text, item.raw)
        item.duplicate_keys = duplicate_key_paths(item.raw, f"$[{item.index}]")
    return True


def _strictly(text: bytes, parsed: Any) -> Any:
    """The value again, read by the strict decoder so that duplicate keys show; as orjson
    read it where the standard library's parser cannot (nesting near orjson's own limit)."""
    try:
        return StrictJsonDecoder().loads(text.decode())
    except (ValueError, RecursionError):
        return parsed


def _array_lines(body: bytes, *, max_records: int) -> list[Incoming] | None:
    """A broken array written one record per line (`[`, `{...},` lines, `]`): judge each
    line on its own, so one bad line does not cost the batch. None when the body is not
    laid out that way (then the whole body is refused)."""
    lines = body.split(b"\n")
    items: list[Incoming] = []
    parsed_lines = 0
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text in (b"", b"[", b"]", b"[]"):
            continue
        if text.startswith(b"["):
            text = text[1:].strip()
        if text.endswith(b"]"):
            text = text[:-1].strip()
        if text.endswith(b","):
            text = text[:-1]
        item = Incoming(index=len(items), line=number)
        if _parse_line(item, text, number, shown=line):
            parsed_lines += 1
        items.append(item)
    # Mostly unparseable lines mean a pretty-printed or truncated body, not bad records.
    if not items or parsed_lines * 2 < len(items):
        return None
    _check_count(len(items), max_records)
    return items


def _check_count(count: int, max_records: int) -> None:
    if count > max_records:
        raise Problem(
            ProblemCode.TOO_MANY_RECORDS,
            f"a publish request holds at most {max_records} records",
            limit=max_records,
        )


def read_envelope(item: Incoming) -> None:
    """Check the record's own fields; fills record_id, data, business_time or errors."""
    if item.errors:
        return
    where = f"$[{item.index}]"
    raw = item.raw
    if not isinstance(raw, dict):
        item.errors.append({"path": where, "message": "a record must be an object"})
        return
    for key in raw.keys() - _ENVELOPE_KEYS:
        item.errors.append({"path": f"{where}.{key_text(key)}", "message": "unknown field"})
    item.errors += [{"path": path, "message": "duplicate key"} for path in item.duplicate_keys]
    record_id = raw.get("record_id")
    if isinstance(record_id, str) and 0 < len(record_id) <= 200:
        faults = text_faults(record_id, f"{where}.record_id")
        if faults:
            item.errors += faults
        else:
            item.record_id = record_id
    else:
        item.errors.append(
            {"path": f"{where}.record_id", "message": "required: a string of 1 to 200 characters"}
        )
    data = raw.get("data")
    if isinstance(data, dict):
        item.data = data
    else:
        item.errors.append({"path": f"{where}.data", "message": "required: an object"})
    business_time = raw.get("business_time")
    if business_time is not None:
        try:
            if not isinstance(business_time, str):
                raise ValueError
            moment = datetime.fromisoformat(business_time)
        except ValueError:
            item.errors.append(
                {"path": f"{where}.business_time", "message": "must be an ISO 8601 date-time"}
            )
        else:
            try:
                item.business_time = business_time_of(moment)
            except ValueError as exc:
                item.errors.append({"path": f"{where}.business_time", "message": str(exc)})
    version = raw.get("schema_version")
    if version is not None:
        if (
            isinstance(version, int)
            and not isinstance(version, bool)
            and 1 <= version <= INTEGER_MAX
        ):
            item.schema_version = version
        else:
            item.errors.append(
                {
                    "path": f"{where}.schema_version",
                    "message": f"must be an integer from 1 to {INTEGER_MAX}",
                }
            )


def canonical_content(item: Incoming) -> None:
    """The record's data as stored (JSON, keys sorted) and its content hash: what makes two
    publications of a record id the same is its data and business time. Data the hub cannot
    store (NUL, a lone surrogate, an integer beyond 64 bits) is the record's fault instead,
    found by the cheap test of writing it (orjson refuses the last two and escapes NUL as
    `\\u0000`); only then is the data walked to name where."""
    assert item.data is not None
    try:
        item.data_json = orjson.dumps(item.data, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        item.errors += unstorable_faults(item.data, f"$[{item.index}].data") or [
            {"path": f"$[{item.index}].data", "message": "cannot be stored as JSON"}
        ]
        return
    if b"\\u0000" in item.data_json:
        item.errors += unstorable_faults(item.data, f"$[{item.index}].data")
        if item.errors:
            return
    # The bytes orjson writes for [data, business_time] with sorted keys, without walking
    # the data twice (hashes stored before this change stay comparable). Its first 16 bytes
    # are kept: a record's head holds it for ever (migration 0016).
    when = b'"' + item.business_time.isoformat().encode() + b'"' if item.business_time else b"null"
    digest = hashlib.sha256(b"[" + item.data_json + b"," + when + b"]").digest()
    item.content_hash = digest[:CONTENT_HASH_BYTES]


def schema_faults(
    validator: Any, data: dict[str, Any], where: str, rules: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """Every fault of the data against the topic's schema; `rules`, when given, receives the
    keyword each fault broke, by path."""
    faults = []
    for error in validator.iter_errors(data):
        path = where + "".join(
            f"[{p}]" if isinstance(p, int) else f".{key_text(p)}" for p in error.instance_path
        )
        kind = error.kind
        rule = _snake(type(kind).__name__)
        name = getattr(kind, "property", None)
        unexpected = getattr(kind, "unexpected", None)
        if isinstance(name, str):  # a missing required item: point at the item itself
            found = [{"path": f"{path}.{name}", "message": error.message}]
        elif isinstance(unexpected, list):  # undeclared items: one fault each
            found = [
                {"path": f"{path}.{key_text(extra)}", "message": "not a data item of this topic"}
                for extra in unexpected
            ]
        else:
            found = [{"path": path, "message": error.message}]
        if rules is not None:
            rules.update((fault["path"], rule) for fault in found)
        faults.extend(found)
    return faults


def _snake(name: str) -> str:
    """AdditionalProperties -> additional_properties."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
