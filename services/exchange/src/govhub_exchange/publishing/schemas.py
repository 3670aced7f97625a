"""The publish request's records, the publish result and the quarantine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

RECORD_EXAMPLE: dict[str, Any] = {
    "record_id": "91440101MA5CXXXX1A",
    "business_time": "2026-03-02T09:15:00+08:00",
    "data": {
        "uscc": "91440101MA5CXXXX1A",
        "name": "广州市天河区穗安科技有限公司",
        "registered_on": "2026-03-02",
    },
}


class PublishRecord(BaseModel):
    """One record of a publish request (a JSON array of these, or one per NDJSON line)."""

    record_id: str = Field(
        min_length=1,
        max_length=200,
        description="The record's key in the topic: publishing it again with other data or "
        "business time makes a new version; with the same, a duplicate.",
    )
    data: dict[str, Any] = Field(description="The data items, as the topic's schema says.")
    business_time: datetime | None = Field(
        None, description="When it happened in the world (ISO 8601), if not now."
    )
    schema_version: int | None = Field(
        None, ge=1, description="The topic schema version the data follows; default current."
    )

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [RECORD_EXAMPLE]}}


class PublishRequest(BaseModel):
    """A batch as a JSON object: what generated clients send (the service also takes the
    bare array of records)."""

    records: list[PublishRecord] = Field(description="The records, each judged on its own.")

    model_config = {"extra": "forbid"}


class PublishCounts(BaseModel):
    accepted: int
    duplicates: int
    rejected: int


class AcceptedRecord(BaseModel):
    index: int = Field(description="The record's position in the request, from 0.")
    record_id: str
    seq: int = Field(description="Its position in the topic's log.")
    version: int = Field(description="The record id's version: 1 for a new record id.")


class DuplicateRecord(BaseModel):
    index: int = Field(description="The record's position in the request, from 0.")
    record_id: str
    version: int = Field(description="The version it repeats.")
    seq: int = Field(description="Where that version is in the log.")


class RecordFault(BaseModel):
    path: str = Field(description="JSON path in the request: `$[3].data.uscc`.")
    message: str


class RejectedRecord(BaseModel):
    index: int = Field(description="The record's position in the request, from 0.")
    line: int | None = Field(description="Its line in an NDJSON (or one-per-line) body.")
    record_id: str | None
    errors: list[RecordFault] = Field(description="Every fault of the record.")


class PublishResult(BaseModel):
    """What became of each record of a publish request, sent after the commit."""

    batch_id: str
    topic: str
    counts: PublishCounts
    accepted: list[AcceptedRecord]
    duplicates: list[DuplicateRecord] = Field(
        description="Records the log already holds with the same data and business time."
    )
    rejected: list[RejectedRecord] = Field(
        description="Records not published (kept in the topic's quarantine for its owner)."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "batch_id": "0b9f3c52-6d1e-4f0a-9c43-2f7de1a1c0b5",
                    "topic": "enterprise_registered",
                    "counts": {"accepted": 1, "duplicates": 1, "rejected": 1},
                    "accepted": [
                        {"index": 0, "record_id": "91440101MA5CXXXX1A", "seq": 1025, "version": 1}
                    ],
                    "duplicates": [
                        {"index": 1, "record_id": "91440106MA59YYYY2B", "version": 2, "seq": 877}
                    ],
                    "rejected": [
                        {
                            "index": 2,
                            "line": None,
                            "record_id": "91440111MA5DZZZZ3C",
                            "errors": [
                                {
                                    "path": "$[2].data.registered_on",
                                    "message": "'2026-02-30' is not a 'date'",
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    }


class QuarantinedRecord(BaseModel):
    """A rejected record as it was received, with its faults."""

    id: int
    batch_id: str
    index: int
    line: int | None
    record_id: str | None
    payload: str = Field(description="The record as received (JSON text, or the raw line).")
    errors: list[RecordFault]
    received_at: datetime
