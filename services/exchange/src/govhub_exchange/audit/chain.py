"""The hash chain itself: pure functions, so a third party can verify an export offline."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import jwt
import orjson

GENESIS = "0" * 64


def canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(entry: dict[str, Any], prev_hash: str) -> str:
    """sha256 over the previous hash and the canonical JSON (sorted keys) of the entry."""
    body = {k: entry.get(k) for k in ("id", "at", "actor", "action", "agency", "topic", "details")}
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical).hexdigest()


def sign_checkpoint(
    *, entry_id: int, hash_: str, signed_at: datetime, private_pem: bytes, kid: str
) -> str:
    claims = {"entry_id": entry_id, "hash": hash_, "signed_at": canonical_time(signed_at)}
    return jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": kid})


def checkpoint_claims(signature: str, public_pem: bytes) -> dict[str, Any]:
    """The signed claims of a checkpoint; raises jwt.InvalidTokenError if forged."""
    return dict(jwt.decode(signature, public_pem, algorithms=["RS256"]))


class ChainVerifier:
    """Feed entries in id order; remembers the first broken link."""

    def __init__(self, first_prev_hash: str | None = None) -> None:
        self.prev_hash = first_prev_hash
        self.prev_id: int | None = None
        self.checked = 0
        self.broken: dict[str, Any] | None = None
        self.hashes: dict[int, str] = {}

    def feed(self, entries: Iterable[dict[str, Any]]) -> None:
        for entry in entries:
            if self.broken is not None:
                return
            entry_id = int(entry["id"])
            expected_prev = self.prev_hash if self.prev_hash is not None else entry["prev_hash"]
            if self.prev_id is not None and entry_id != self.prev_id + 1:
                self._break(entry_id, f"entry {self.prev_id + 1} is missing")
            elif entry["prev_hash"] != expected_prev:
                self._break(entry_id, "prev_hash does not match the previous entry's hash")
            elif entry_hash(entry, entry["prev_hash"]) != entry["hash"]:
                self._break(entry_id, "the entry's content does not match its hash")
            else:
                self.checked += 1
                self.hashes[entry_id] = entry["hash"]
            self.prev_hash = entry["hash"]
            self.prev_id = entry_id

    def _break(self, entry_id: int, reason: str) -> None:
        self.broken = {"entry_id": entry_id, "reason": reason}


def verify_export(document: dict[str, Any]) -> dict[str, Any]:
    """Verify an `audit-export` file offline: the chain, and each checkpoint's signature
    against the public key the file carries (compare it with the hub's published JWKS)."""
    public_pem = document["public_key_pem"].encode()
    verifier = ChainVerifier()
    verifier.feed(document["entries"])
    checkpoints_ok = 0
    checkpoint_error: dict[str, Any] | None = None
    for checkpoint in document["checkpoints"]:
        try:
            claims = checkpoint_claims(checkpoint["signature"], public_pem)
        except jwt.InvalidTokenError as exc:
            checkpoint_error = {"checkpoint": checkpoint["id"], "reason": f"bad signature: {exc}"}
            break
        entry_id = int(claims["entry_id"])
        if entry_id in verifier.hashes and verifier.hashes[entry_id] != claims["hash"]:
            checkpoint_error = {
                "checkpoint": checkpoint["id"],
                "reason": f"signed hash of entry {entry_id} differs from the chain",
            }
            break
        checkpoints_ok += 1
    return {
        "valid": verifier.broken is None and checkpoint_error is None,
        "entries_checked": verifier.checked,
        "first_broken": verifier.broken,
        "checkpoints_verified": checkpoints_ok,
        "checkpoint_error": checkpoint_error,
    }
