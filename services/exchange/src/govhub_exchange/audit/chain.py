"""The hash chain itself: pure functions, so a third party can verify an export offline.

Version 2 entries (since migration 0010) are hashed over their RFC 8785 (JCS) canonical
form, stored as text exactly as hashed; verification re-hashes those bytes. Version 1
entries were hashed over orjson with sorted keys of the entry read back from the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import orjson
import rfc8785

from govhub_common.files import open_private

GENESIS = "0" * 64
HASH_VERSION = 2
# The fields an entry's hash covers, in every version.
HASHED_FIELDS = ("id", "at", "actor", "action", "agency", "topic", "details")
# The largest integer a double holds with every integer below it.
_SAFE_INTEGER = 2**53 - 1
CHECKPOINT_SUFFIX = ".jws"
# A signed head to check: (its name in reports, its compact JWS, the database row's columns
# or None for an exported file).
SignedHead = tuple[str, str, dict[str, Any] | None]


def canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_entry(entry: dict[str, Any]) -> str:
    """The RFC 8785 canonical JSON of an entry's hashed fields (the text that is stored)."""
    return _canonical_value({k: entry.get(k) for k in HASHED_FIELDS}).decode()


def entry_hash(entry: dict[str, Any], prev_hash: str) -> str:
    """sha256 over the previous hash, a newline and the entry's hashed bytes: its stored
    canonical text (version 2) or orjson with sorted keys (version 1)."""
    if entry.get("hash_version", 1) == 2:
        hashed = str(entry["canonical"]).encode()
    else:
        body = {k: entry.get(k) for k in HASHED_FIELDS}
        hashed = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + b"\n" + hashed).hexdigest()


def _fields_differ(entry: dict[str, Any]) -> str | None:
    """For a version 2 entry: a field shown beside the canonical text (the searchable
    columns, the jsonb details) that says otherwise than what was hashed. Details compare
    by their canonical form: jsonb writes -0.0 as 0 and 1e16 as 10000000000000000."""
    try:
        hashed = orjson.loads(entry["canonical"])
    except (orjson.JSONDecodeError, TypeError):
        return "the stored canonical form is not JSON"
    for name in HASHED_FIELDS:
        shown, signed = entry.get(name), hashed.get(name)
        if name == "details":
            try:
                shown, signed = _canonical_value(shown), _canonical_value(signed)
            except (rfc8785.CanonicalizationError, ValueError, OverflowError):
                return "the entry's details cannot be put in canonical form"
        if shown != signed:
            return f"the entry's {name} differs from the hashed canonical form"
    return None


def _as_doubles(value: Any) -> Any:
    """The value as JCS sees it: JCS numbers are IEEE doubles (I-JSON), so an integer beyond
    ±(2**53 - 1) is the nearest double (its decimal string if none is that large). jsonb
    keeps such an integer exactly and a double as its decimal digits: read back from
    either, a value maps to the same canonical bytes again."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) <= _SAFE_INTEGER:
            return value
        try:
            return float(value)
        except OverflowError:
            return str(value)
    if isinstance(value, dict):
        return {k: _as_doubles(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_doubles(v) for v in value]
    return value


def _canonical_value(value: Any) -> bytes:
    return rfc8785.dumps(_as_doubles(value))


def sign_checkpoint(
    *, entry_id: int, hash_: str, signed_at: datetime, private_pem: bytes, kid: str
) -> str:
    claims = {"entry_id": entry_id, "hash": hash_, "signed_at": canonical_time(signed_at)}
    return jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": kid})


def checkpoint_claims(signature: str, public_pem: bytes) -> dict[str, Any]:
    """The signed claims of a checkpoint; raises jwt.InvalidTokenError if forged."""
    claims = dict(jwt.decode(signature, public_pem, algorithms=["RS256"]))
    if not isinstance(claims.get("entry_id"), int) or not isinstance(claims.get("hash"), str):
        raise jwt.InvalidTokenError("not an audit checkpoint")
    return claims


class ChainVerifier:
    """Feed entries in id order; remembers the first broken link, and the hashes of the
    entries in `wanted` (those checkpoints signed), or of all when wanted is None."""

    def __init__(
        self, first_prev_hash: str | None = None, *, wanted: set[int] | None = None
    ) -> None:
        self.prev_hash = first_prev_hash
        self.prev_id: int | None = None
        self.first_id: int | None = None
        self.checked = 0
        self.broken: dict[str, Any] | None = None
        self.wanted = wanted
        self.hashes: dict[int, str] = {}

    def feed(self, entries: Iterable[dict[str, Any]]) -> None:
        for entry in entries:
            if self.broken is not None:
                return
            entry_id = int(entry["id"])
            if self.first_id is None:
                self.first_id = entry_id
                if self.prev_hash == GENESIS and entry_id != 1:
                    self._break(1, f"entries before {entry_id} are missing")
                    return
            expected_prev = self.prev_hash if self.prev_hash is not None else entry["prev_hash"]
            differs = _fields_differ(entry) if entry.get("hash_version", 1) == 2 else None
            if self.prev_id is not None and entry_id != self.prev_id + 1:
                self._break(entry_id, f"entry {self.prev_id + 1} is missing")
            elif entry["prev_hash"] != expected_prev:
                self._break(entry_id, "prev_hash does not match the previous entry's hash")
            elif entry_hash(entry, entry["prev_hash"]) != entry["hash"]:
                self._break(entry_id, "the entry's content does not match its hash")
            elif differs is not None:
                self._break(entry_id, differs)
            else:
                self.checked += 1
                if self.wanted is None or entry_id in self.wanted:
                    self.hashes[entry_id] = entry["hash"]
            self.prev_hash = entry["hash"]
            self.prev_id = entry_id

    def _break(self, entry_id: int, reason: str) -> None:
        self.broken = {"entry_id": entry_id, "reason": reason}


@dataclass
class PublicKeys:
    """The keys a verifier trusts: a PEM for any kid, or a JWKS's keys by kid."""

    by_kid: dict[str, Any] = field(default_factory=dict)
    any_kid: bytes | None = None

    @classmethod
    def load(cls, path: Path) -> PublicKeys:
        """A PEM public key, or a JWKS document (the hub's /exchange/v1/.well-known/jwks.json)."""
        raw = path.read_bytes()
        if raw.lstrip().startswith(b"{"):
            jwks = orjson.loads(raw)
            return cls(by_kid={k["kid"]: jwt.PyJWK(k).key for k in jwks.get("keys", [])})
        return cls(any_kid=raw)

    def claims(self, signature: str) -> dict[str, Any]:
        """A checkpoint's claims if one of these keys signed it; jwt.InvalidTokenError else."""
        kid = str(jwt.get_unverified_header(signature).get("kid"))
        key = self.any_kid if self.any_kid is not None else self.by_kid.get(kid)
        if key is None:
            raise jwt.InvalidTokenError(f"no trusted key with kid {kid!r}")
        return checkpoint_claims(signature, key)


def check_signed_heads(
    heads: Iterable[SignedHead],
    verifier: ChainVerifier,
    keys: PublicKeys,
    *,
    must_reach: bool,
) -> tuple[int, dict[str, Any] | None]:
    """Check signed heads (checkpoint rows, exported checkpoint files) against a verified
    chain. Each head is (name, signature, columns): columns, when given, are what the
    database row says besides the signature and must agree with it. Returns how many held
    and the first failure. With must_reach (the chain was read to its end), a head beyond
    the chain's last entry means the chain was truncated."""
    verified = 0
    for name, signature, columns in heads:
        try:
            claims = keys.claims(signature)
        except jwt.InvalidTokenError as exc:
            return verified, {"entry_id": None, "reason": f"{name}: bad signature ({exc})"}
        entry_id = int(claims["entry_id"])
        failure = _head_failure(name, claims, columns, verifier, must_reach=must_reach)
        if failure is not None:
            return verified, {"entry_id": entry_id, "reason": failure}
        verified += 1
    return verified, None


def _head_failure(
    name: str,
    claims: dict[str, Any],
    columns: dict[str, Any] | None,
    verifier: ChainVerifier,
    *,
    must_reach: bool,
) -> str | None:
    entry_id = int(claims["entry_id"])
    if columns is not None and (
        columns["entry_id"] != entry_id or columns["hash"] != claims["hash"]
    ):
        return f"{name}: its columns differ from what it signed"
    if entry_id in verifier.hashes and verifier.hashes[entry_id] != claims["hash"]:
        return f"{name} signed another hash for entry {entry_id}"
    last = verifier.prev_id or 0
    if must_reach and entry_id > last:
        return f"{name} signed entry {entry_id}, but the chain ends at {last}: truncated"
    return None


def checkpoint_file_name(entry_id: int) -> str:
    return f"checkpoint-{entry_id:015d}{CHECKPOINT_SUFFIX}"


def write_checkpoint_file(directory: Path, *, entry_id: int, signature: str) -> Path | None:
    """Append a signed head to the export directory: one file per checkpoint, created 0600
    and never rewritten (None when that head's file exists already)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / checkpoint_file_name(entry_id)
    try:
        out = open_private(path, "x")
    except FileExistsError:
        return None
    with out:
        out.write(signature + "\n")
    return path


def read_checkpoint_files(directory: Path) -> Iterator[SignedHead]:
    """The exported heads of a directory, oldest entry first, as check_signed_heads takes
    them (their signature is all that counts: the file's name and time are not signed)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{CHECKPOINT_SUFFIX}")):
        yield f"checkpoint file {path.name}", path.read_text().strip(), None


def latest_signed_head(directory: Path, keys: PublicKeys) -> dict[str, Any] | None:
    """The exported head with the highest entry id whose signature holds."""
    best: dict[str, Any] | None = None
    for _name, signature, _ in read_checkpoint_files(directory):
        try:
            claims = keys.claims(signature)
        except jwt.InvalidTokenError:
            continue
        if best is None or claims["entry_id"] > best["id"]:
            best = {"id": claims["entry_id"], "hash": claims["hash"]}
    return best


EXPORT_FORMAT = "govhub-audit-export/2"


def verify_export_lines(
    lines: Iterable[bytes], keys: PublicKeys, checkpoint_dir: Path | None = None
) -> dict[str, Any]:
    """Verify an NDJSON export offline (`govhub exchange audit export`) with only the
    hub's public key: the chain, each checkpoint's signature, and (with checkpoint_dir)
    the exported heads, which a complete export must reach."""
    rows = (orjson.loads(line) for line in lines if line.strip())
    header = next(rows, None)
    if header is None or header.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not a {EXPORT_FORMAT} file")
    entries: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    for row in rows:
        (entries if row.pop("type") == "entry" else checkpoints).append(row)
    complete = header.get("from") is None and header.get("to") is None
    verifier = ChainVerifier(GENESIS if complete else None)
    verifier.feed(entries)
    heads: list[SignedHead] = [(f"checkpoint {c['id']}", c["signature"], c) for c in checkpoints]
    verified, failure = check_signed_heads(heads, verifier, keys, must_reach=complete)
    files_verified = 0
    if failure is None and checkpoint_dir is not None:
        exported_at = header["exported_at"]
        # Heads signed after the export was taken may name entries it does not hold.
        older = [
            head
            for head in read_checkpoint_files(checkpoint_dir)
            if _signed_at(head[1]) <= exported_at
        ]
        files_verified, failure = check_signed_heads(older, verifier, keys, must_reach=complete)
    broken = verifier.broken or failure
    return {
        "valid": broken is None,
        "entries_checked": verifier.checked,
        "first_entry": verifier.first_id,
        "head": {"id": verifier.prev_id, "hash": verifier.prev_hash} if verifier.prev_id else None,
        "checkpoints_verified": verified,
        "checkpoint_files_verified": files_verified,
        "first_broken": broken,
    }


def _signed_at(signature: str) -> str:
    """A checkpoint's signing time, read unverified (only to order it against an export;
    check_signed_heads verifies the signature)."""
    try:
        return str(jwt.decode(signature, options={"verify_signature": False})["signed_at"])
    except (jwt.InvalidTokenError, KeyError):
        return ""
