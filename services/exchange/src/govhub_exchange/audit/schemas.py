"""The audit log's entries, its verification and its signed checkpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from govhub_exchange.audit.chain import EXPORT_FORMAT

# What `GET /v1/audit/export` streams: one JSON object per line.
EXPORT_MEDIA_TYPE = "application/x-ndjson"

_AT = "ISO 8601 in UTC with microseconds, exactly as hashed (`2026-03-02T01:15:02.418000+00:00`)."


class AuditEntry(BaseModel):
    """One link of the hash chain: `hash` is sha256 over `prev_hash`, a newline and the
    entry's hashed bytes: for hash_version 2 the `canonical` text as given (the RFC 8785
    canonical JSON of id, at, actor, action, agency, topic and details); for version 1
    (entries before the upgrade) orjson with sorted keys of those fields."""

    id: int
    at: str = Field(description=_AT)
    actor: str = Field(
        description="Who acted: the agency (`gz-ltax`), a person acting for it through the "
        "console (`gz-ltax/oidc:8f14e45f`, RFC 8693's subject), or `system`.",
        examples=["gz-ltax"],
    )
    action: str = Field(examples=["records.published"])
    agency: str | None = Field(description="The agency the action concerns.")
    topic: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str
    hash_version: int = Field(examples=[2])
    canonical: str | None = Field(
        description="Version 2: the exact text that was hashed; null for version 1."
    )


class ChainLink(BaseModel):
    id: int
    hash: str


class BrokenLink(BaseModel):
    entry_id: int | None = Field(
        description="The entry concerned; null for a checkpoint whose signature fails."
    )
    reason: str


class AuditVerification(BaseModel):
    """The chain recomputed from its first entry."""

    valid: bool
    entries_checked: int
    head: ChainLink | None = Field(description="The last entry checked; null when empty.")
    first_broken: BrokenLink | None = Field(
        description="The first entry whose link or content does not hold, or the first "
        "checkpoint (in the database or exported) whose signature fails or that the chain "
        "contradicts or no longer reaches; null when valid."
    )
    checkpoints_verified: int = Field(
        description="Signed heads whose signature and hash held: checkpoints in the "
        "database and files in the checkpoint directory."
    )
    exported_head: ChainLink | None = Field(
        description="The latest head exported to the checkpoint directory; null when none."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "valid": True,
                    "entries_checked": 5120,
                    "head": {"id": 5120, "hash": "9f2c" + "0" * 60},
                    "first_broken": None,
                    "checkpoints_verified": 18,
                    "exported_head": {"id": 5107, "hash": "41ab" + "0" * 60},
                }
            ]
        }
    }


class AuditCheckpoint(BaseModel):
    """The chain's head signed with the hub's key (a JWS whose claims are entry_id, hash and
    signed_at; verify it with the JWKS)."""

    id: int
    entry_id: int
    hash: str
    signed_at: str = Field(description=_AT)
    kid: str = Field(description="The signing key's id in the JWKS.")
    signature: str = Field(description="Compact JWS, RS256.")


EXPORT_EXAMPLE = (
    f'{{"format":"{EXPORT_FORMAT}","exported_at":"2026-03-02T01:20:00.000000+00:00",'
    '"from":null,"to":null,"kid":"hub-1"}\n'
    '{"type":"entry","id":1,"at":"2026-03-02T01:15:02.418000+00:00","actor":"gz-amr",'
    '"action":"records.published","agency":"gz-amr","topic":"enterprise_registered",'
    '"details":{"accepted":1},"prev_hash":"0000...","hash":"9f2c...","hash_version":2,'
    '"canonical":"{...}"}\n'
    '{"type":"checkpoint","id":1,"entry_id":1,"hash":"9f2c...",'
    '"signed_at":"2026-03-02T01:16:00.000000+00:00","kid":"hub-1","signature":"eyJ..."}\n'
)


def export_content() -> dict[str, Any]:
    """The export's media type in the OpenAPI document: lines of a header, entries (as
    AuditEntry with `"type": "entry"`) and checkpoints (as AuditCheckpoint with
    `"type": "checkpoint"`)."""
    return {
        EXPORT_MEDIA_TYPE: {
            "schema": {
                "type": "string",
                "description": "NDJSON: a header line (`format`, `exported_at`, `from`, `to`, "
                '`kid`), then a line per entry (an AuditEntry with `"type": "entry"`) and '
                "per checkpoint signing them (an AuditCheckpoint with "
                '`"type": "checkpoint"`).',
            },
            "example": EXPORT_EXAMPLE,
        }
    }
