"""The audit log: append-only in the database, hash-chained, signed, exportable."""

from __future__ import annotations

import asyncio
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from govhub_common.db import asyncpg_dsn
from govhub_common.pagination import encode_cursor
from govhub_common.testing import Hub, running_hub, wait_for
from govhub_exchange.audit.chain import (
    GENESIS,
    ChainVerifier,
    PublicKeys,
    canonical_entry,
    checkpoint_file_name,
    entry_hash,
    verify_export_lines,
)
from tests.exchange.support import (
    BASE,
    agency_headers,
    enterprise,
    make_agency,
    make_topic,
    publish,
    subscribe,
)

GOVHUB = str(Path(sys.executable).parent / "govhub")


async def audit_entries(hub: Hub, topic: str, action: str) -> list[dict[str, Any]]:
    reply = await hub.client.get(
        f"{BASE}/audit", params={"topic": topic, "action": action}, headers=hub.operator()
    )
    return reply.json()["data"]  # type: ignore[no-any-return]


async def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run `govhub ...` as a user would, without blocking the event loop."""
    process = await asyncio.create_subprocess_exec(
        GOVHUB,
        *args,
        env={"PATH": "/usr/bin:/bin", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return await process.wait(), output.decode()


async def test_the_database_refuses_updates_deletes_and_truncates(hub: Hub, db_url: str) -> None:
    await make_agency(hub)
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        for statement in (
            "UPDATE exchange.audit_log SET actor = 'someone' WHERE id = 1",
            "DELETE FROM exchange.audit_log WHERE id = 1",
            "TRUNCATE exchange.audit_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_a_row_altered_in_the_database_is_reported_as_the_broken_link(
    fresh_db_url: str,
) -> None:
    async with running_hub(fresh_db_url) as hub:
        owner = await make_agency(hub)
        topic = await make_topic(hub, owner)
        await publish(hub, owner, topic, [{"record_id": "x1", "data": enterprise(0)}])

        # Appended by the background audit round, moments after the publish commits.
        entries = await wait_for(lambda: audit_entries(hub, topic, "records.published"))
        ok = (await hub.client.get(f"{BASE}/audit/verify", headers=hub.operator())).json()
        assert ok["valid"] is True and ok["first_broken"] is None
        target = entries[0]["id"]
        assert entries[0]["details"]["accepted"] == 1
        assert (entries[0]["details"]["first_seq"], entries[0]["details"]["last_seq"]) == (1, 1)

        # Someone with superuser rights bypasses the trigger and rewrites history.
        conn = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
        try:
            await conn.execute("SET session_replication_role = replica")
            await conn.execute(
                "UPDATE exchange.audit_log SET details = jsonb_set(details, '{accepted}', '0') WHERE id = $1",
                target,
            )
        finally:
            await conn.close()
        broken = (await hub.client.get(f"{BASE}/audit/verify", headers=hub.operator())).json()
        assert broken["valid"] is False
        assert broken["first_broken"]["entry_id"] == target
        assert broken["entries_checked"] == target - 1


async def test_signed_checkpoint_and_offline_verifiable_export(
    hub: Hub, db_url: str, govhub_home: Path, tmp_path: Path
) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    await publish(hub, owner, topic, [{"record_id": "c1", "data": enterprise(1)}])
    checkpoint = await hub.client.post(f"{BASE}/audit/checkpoints", headers=hub.operator())
    assert checkpoint.status_code == 201
    signed = checkpoint.json()
    jwks = (await hub.client.get(f"{BASE}/.well-known/jwks.json")).json()
    claims = jwt.decode(signed["signature"], jwt.PyJWK(jwks["keys"][0]).key, algorithms=["RS256"])
    assert claims["entry_id"] == signed["entry_id"] and claims["hash"] == signed["hash"]
    # Exported where the database cannot reach: one file per head, private to the hub.
    exported = checkpoint_dir(govhub_home, db_url) / checkpoint_file_name(signed["entry_id"])
    assert exported.read_text().strip() == signed["signature"]
    assert exported.stat().st_mode & 0o777 == 0o600

    export_file = tmp_path / "audit.ndjson"
    now = datetime.now(UTC)
    completed = await run_cli(
        [
            "exchange",
            "audit",
            "export",
            str(export_file),
            "--from",
            (now - timedelta(hours=1)).isoformat(),
            "--to",
            (now + timedelta(minutes=1)).isoformat(),
        ],
        env={"GOVHUB_DATABASE_URL": db_url, "GOVHUB_HOME": str(govhub_home)},
    )
    assert completed[0] == 0, completed[1]
    lines = [orjson.loads(line) for line in export_file.read_bytes().splitlines()]
    assert any(e.get("topic") == topic for e in lines if e.get("type") == "entry")
    assert any(e.get("type") == "checkpoint" for e in lines)
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_bytes(orjson.dumps(jwks))
    report = verify_export_lines(export_file.read_bytes().splitlines(), PublicKeys.load(jwks_file))
    assert report["valid"] is True, report
    assert report["checkpoints_verified"] == sum(1 for e in lines if e.get("type") == "checkpoint")

    verify_cli = await run_cli(
        ["exchange", "audit", "verify", str(export_file), "--public-key", str(jwks_file)],
        env={"GOVHUB_HOME": str(tmp_path)},
    )
    assert verify_cli[0] == 0, verify_cli[1]

    tampered = next(e for e in lines if e.get("type") == "entry" and e["topic"] == topic)
    tampered["actor"] = "someone-else"
    report = verify_export_lines([orjson.dumps(e) for e in lines], PublicKeys.load(jwks_file))
    assert report["valid"] is False
    assert report["first_broken"]["entry_id"] == tampered["id"]


def checkpoint_dir(home: Path, db_url: str) -> Path:
    """Where a test hub exports its signed heads (the default: one folder per database)."""
    return home / "audit-checkpoints" / str(make_url(db_url).database)


async def as_superuser(db_url: str, *statements: tuple[str, Any]) -> None:
    """Statements as the database's superuser, the append-only triggers switched off."""
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await conn.execute("SET session_replication_role = replica")
        for statement, *args in statements:
            await conn.execute(statement, *args)
    finally:
        await conn.close()


async def verification(hub: Hub) -> dict[str, Any]:
    reply = await hub.client.get(f"{BASE}/audit/verify", headers=hub.operator())
    assert reply.status_code == 200, reply.text
    report: dict[str, Any] = reply.json()
    return report


async def test_numbers_jsonb_rewrites_keep_the_chain_valid_and_tampering_still_shows(
    fresh_db_url: str,
) -> None:
    from govhub_exchange.audit import service as audit

    async with running_hub(fresh_db_url) as hub:
        code = await make_agency(hub)
        # jsonb keeps -0.0 as 0 and 1e16 as 10000000000000000: the hash must not care.
        # (The agency contact takes text only; other details may carry any number.)
        numbers = {"minus_zero": -0.0, "big": 1e16, "small": 1e-7, "huge": 2**60 + 1, "pi": 3.14}
        async with hub.runtime.db.session() as session:
            target = await audit.append(
                session, actor="hub", action="agency.updated", agency=code, details=numbers
            )
        await make_topic(hub, code)  # an entry after it
        ok = await verification(hub)
        assert ok["valid"] is True and ok["first_broken"] is None, ok
        assert ok["entries_checked"] == ok["head"]["id"] > target
        listed = (
            await hub.client.get(
                f"{BASE}/audit",
                params={"agency": code, "action": "agency.updated"},
                headers=hub.operator(),
            )
        ).json()["data"]
        assert listed[0]["hash_version"] == 2
        assert listed[0]["details"]["huge"] == 2**60 + 1
        # JCS numbers are doubles: the hashed text has the nearest one, jsonb the exact value.
        assert '"huge":1152921504606847000' in listed[0]["canonical"]

        # Later tampering is still seen: with the hashed text, and with a searched column.
        await as_superuser(
            fresh_db_url,
            (
                "UPDATE exchange.audit_log SET canonical = replace(canonical, '3.14', '3.15') "
                "WHERE id = $1",
                target,
            ),
        )
        broken = await verification(hub)
        assert broken["valid"] is False
        assert broken["first_broken"]["entry_id"] == target
        await as_superuser(
            fresh_db_url,
            (
                "UPDATE exchange.audit_log SET canonical = replace(canonical, '3.15', '3.14'), "
                "agency = 'someone-else' WHERE id = $1",
                target,
            ),
        )
        moved = await verification(hub)
        assert moved["valid"] is False
        assert moved["first_broken"] == {
            "entry_id": target,
            "reason": "the entry's agency differs from the hashed canonical form",
        }


async def rewrite_chain_from(db_url: str, first: int) -> str:
    """What a superuser with the database alone can do: change entry `first`, re-hash it and
    every entry after it into a consistent chain, and point the checkpoints at the new
    hashes. Returns the new head hash."""
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await conn.execute("SET session_replication_role = replica")
        rows = await conn.fetch(
            "SELECT id, canonical, prev_hash FROM exchange.audit_log WHERE id >= $1 ORDER BY id",
            first,
        )
        prev = rows[0]["prev_hash"]
        for row in rows:
            entry = orjson.loads(row["canonical"])
            if row["id"] == first:
                entry["actor"] = "forger"
            canonical = canonical_entry(entry)
            digest = entry_hash({"hash_version": 2, "canonical": canonical}, prev)
            await conn.execute(
                "UPDATE exchange.audit_log SET canonical = $2, actor = $3, prev_hash = $4, "
                "hash = $5 WHERE id = $1",
                row["id"], canonical, entry["actor"], prev, digest,
            )  # fmt: skip
            await conn.execute(
                "UPDATE exchange.audit_checkpoints SET hash = $2 WHERE entry_id = $1",
                row["id"], digest,
            )  # fmt: skip
            prev = digest
        return str(prev)
    finally:
        await conn.close()


async def test_a_superuser_rewriting_entries_and_checkpoint_hashes_is_caught_by_the_signatures(
    fresh_db_url: str, tmp_path: Path
) -> None:
    async with running_hub(fresh_db_url) as hub:
        code = await make_agency(hub)
        await make_topic(hub, code)
        signed = (await hub.client.post(f"{BASE}/audit/checkpoints", headers=hub.operator())).json()
        assert (await verification(hub))["valid"] is True
        jwks_file = tmp_path / "jwks.json"
        jwks_file.write_bytes((await hub.client.get(f"{BASE}/.well-known/jwks.json")).content)

        new_head = await rewrite_chain_from(fresh_db_url, 1)
        assert new_head != signed["hash"]
        # Without the exported files, the checkpoints' signatures alone catch it.
        shutil.rmtree(checkpoint_dir(Path(hub.runtime.settings.home), fresh_db_url))
        caught = await verification(hub)
        assert caught["valid"] is False
        assert caught["first_broken"]["entry_id"] == signed["entry_id"]
        assert "differ from what it signed" in caught["first_broken"]["reason"]

        export_file = tmp_path / "audit.ndjson"
        exported = await run_cli(
            ["exchange", "audit", "export", str(export_file)],
            env={"GOVHUB_DATABASE_URL": fresh_db_url, "GOVHUB_HOME": str(tmp_path / "home")},
        )
        assert exported[0] == 0, exported[1]
        offline = await run_cli(
            ["exchange", "audit", "verify", str(export_file), "--public-key", str(jwks_file)],
            env={"GOVHUB_HOME": str(tmp_path)},
        )
        assert offline[0] == 1, offline[1]
        report = orjson.loads(offline[1])
        assert report["first_broken"]["entry_id"] == signed["entry_id"]


async def test_a_tail_cut_after_the_last_checkpoint_is_caught_against_the_exported_head(
    fresh_db_url: str, tmp_path: Path
) -> None:
    async with running_hub(fresh_db_url) as hub:
        code = await make_agency(hub)
        first = (await hub.client.post(f"{BASE}/audit/checkpoints", headers=hub.operator())).json()
        await make_topic(hub, code)
        await make_topic(hub, code)
        last = (await hub.client.post(f"{BASE}/audit/checkpoints", headers=hub.operator())).json()
        assert last["entry_id"] > first["entry_id"]
        jwks_file = tmp_path / "jwks.json"
        jwks_file.write_bytes((await hub.client.get(f"{BASE}/.well-known/jwks.json")).content)
        ok = await verification(hub)
        assert ok["valid"] is True
        assert ok["exported_head"] == {"id": last["entry_id"], "hash": last["hash"]}

        # The superuser removes what followed the first checkpoint, and the checkpoint
        # that signed it: in the database, the chain and its checkpoints agree.
        await as_superuser(
            fresh_db_url,
            ("DELETE FROM exchange.audit_log WHERE id > $1", first["entry_id"]),
            ("DELETE FROM exchange.audit_checkpoints WHERE entry_id > $1", first["entry_id"]),
        )
        cut = await verification(hub)
        assert cut["valid"] is False
        assert cut["first_broken"]["entry_id"] == last["entry_id"]
        assert "truncated" in cut["first_broken"]["reason"]

        export_file = tmp_path / "audit.ndjson"
        exported = await run_cli(
            ["exchange", "audit", "export", str(export_file)],
            env={"GOVHUB_DATABASE_URL": fresh_db_url, "GOVHUB_HOME": str(tmp_path / "home")},
        )
        assert exported[0] == 0, exported[1]
        verify = ["exchange", "audit", "verify", str(export_file), "--public-key", str(jwks_file)]
        alone = await run_cli(verify, env={"GOVHUB_HOME": str(tmp_path)})
        assert alone[0] == 0, alone[1]  # the database's own story holds together...
        heads = str(checkpoint_dir(Path(hub.runtime.settings.home), fresh_db_url))
        against_heads = await run_cli(
            [*verify, "--checkpoints", heads], env={"GOVHUB_HOME": str(tmp_path)}
        )
        assert against_heads[0] == 1, against_heads[1]  # ...but not against the exported heads
        assert "truncated" in orjson.loads(against_heads[1])["first_broken"]["reason"]


async def test_audit_search_by_agency_and_time(hub: Hub) -> None:
    owner = await make_agency(hub)
    before = datetime.now(UTC)
    await make_topic(hub, owner)
    listed = (
        await hub.client.get(
            f"{BASE}/audit",
            params={"agency": owner, "since": before.isoformat()},
            headers=hub.operator(),
        )
    ).json()["data"]
    assert [e["action"] for e in listed] == ["topic.created"]
    assert all(len(e["hash"]) == 64 for e in listed)
    denied = await hub.client.get(f"{BASE}/audit", headers=agency_headers(hub, owner))
    assert denied.status_code == 403


async def test_a_feed_read_never_waits_for_another_replicas_audit_round(hub: Hub) -> None:
    # Another replica's audit round holds the chain's lock. This replica's round, due to
    # record what the feed delivered, must wait for it without holding the subscription's
    # row, which every feed read updates (two rounds doing so deadlocked for a second).
    import sqlalchemy as sa

    from govhub_exchange.audit import service as audit
    from govhub_exchange.delivery.service import audit_feed_deliveries

    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc", "name"])
    await publish(hub, owner, topic, [{"record_id": "a1", "data": enterprise(1)}])
    feed = f"{BASE}/subscriptions/{sub['id']}/records"
    headers = agency_headers(hub, reader)
    assert len((await hub.client.get(feed, headers=headers)).json()["data"]) == 1
    db = hub.runtime.db

    async def this_replicas_round() -> None:
        async with db.session() as session:
            await audit_feed_deliveries(session)

    async def waiting_for_the_chain() -> bool:
        async with db.session() as session:
            waiting = await session.execute(
                sa.text(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'"
                )
            )
            return waiting.first() is not None

    async with db.session() as other_replica:
        await audit.lock_chain(other_replica)
        auditing = asyncio.create_task(this_replicas_round())
        await wait_for(waiting_for_the_chain)
        # A hang guard, not a timing: unfixed, this read waits until the other round ends.
        read = await asyncio.wait_for(
            hub.client.get(feed, params={"cursor": encode_cursor(1)}, headers=headers), timeout=15
        )
        assert read.status_code == 200 and read.json()["data"] == []
    await auditing

    entries = await wait_for(lambda: audit_entries(hub, topic, "records.delivered"))
    assert [(e["details"]["first_seq"], e["details"]["last_seq"]) for e in entries] == [(1, 1)]


_KEYS = st.text(max_size=8).filter(lambda k: "\x00" not in k)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=12,
)


def generated_details(count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    @settings(max_examples=count, deadline=None, database=None)
    @given(st.dictionaries(_KEYS, JSON_VALUES, max_size=5))
    def collect(details: dict[str, Any]) -> None:
        found.append(details)

    collect()
    return found


async def test_whatever_jsonb_makes_of_the_details_the_entry_still_verifies(db_url: str) -> None:
    # The property behind 15.5 (a): details read back through jsonb (numbers rewritten,
    # keys reordered) verify against the canonical text that was hashed.
    samples = [*generated_details(300), {"minus_zero": -0.0, "big": 1e16, "tiny": 5e-324}]
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        stored = await conn.fetch(
            "SELECT d::jsonb::text AS back FROM unnest($1::text[]) WITH ORDINALITY AS t(d, n) "
            "ORDER BY n",
            [orjson.dumps(d).decode() for d in samples],
        )
    finally:
        await conn.close()
    for details, row in zip(samples, stored, strict=True):
        entry: dict[str, Any] = {
            "id": 1, "at": "2026-03-02T01:15:02.418000+00:00", "actor": "hub",
            "action": "agency.updated", "agency": None, "topic": None, "details": details,
            "hash_version": 2, "prev_hash": GENESIS,
        }  # fmt: skip
        entry["canonical"] = canonical_entry(entry)
        entry["hash"] = entry_hash(entry, GENESIS)
        verifier = ChainVerifier(GENESIS)
        verifier.feed([{**entry, "details": orjson.loads(row["back"])}])
        assert verifier.broken is None, (details, row["back"], verifier.broken)


async def test_entries_hashed_before_the_upgrade_still_verify(fresh_db_url: str) -> None:
    import hashlib

    from govhub_common.migrations import upgrade
    from govhub_exchange.app import SERVICE

    # A chain written before migration 0010: sha256 over orjson with sorted keys.
    await asyncio.to_thread(upgrade, SERVICE.migrations, fresh_db_url, "exchange", "0009")
    conn = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
    try:
        prev = GENESIS
        for entry_id in (1, 2):
            at = datetime(2026, 3, 2, 1, 15, entry_id, 418000, tzinfo=UTC)
            body = {
                "id": entry_id, "at": at.isoformat(timespec="microseconds"), "actor": "hub",
                "action": "agency.created", "agency": f"old-{entry_id}", "topic": None,
                "details": {"name": "旧的", "n": entry_id},
            }  # fmt: skip
            digest = hashlib.sha256(
                prev.encode() + b"\n" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
            ).hexdigest()
            await conn.execute(
                "INSERT INTO exchange.audit_log (id, at, actor, action, agency, topic, details, "
                "prev_hash, hash) VALUES ($1, $2, 'hub', 'agency.created', $3, NULL, "
                "$4::text::jsonb, $5, $6)",
                entry_id, at, body["agency"], orjson.dumps(body["details"]).decode(), prev, digest,
            )  # fmt: skip
            prev = digest
    finally:
        await conn.close()

    async with running_hub(fresh_db_url) as hub:  # migrates to the newest
        await make_agency(hub)
        report = await verification(hub)
        assert report["valid"] is True, report
        assert report["entries_checked"] == report["head"]["id"] >= 3
        versions = [
            e["hash_version"]
            for e in (await hub.client.get(f"{BASE}/audit", headers=hub.operator())).json()["data"]
        ]
        assert versions[:2] == [1, 1] and set(versions[2:]) == {2}


async def test_checkpoints_signed_before_a_key_rotation_verify_with_the_previous_key(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govhub_common.security import generate_key_pair

    async with running_hub(fresh_db_url) as hub:
        await make_agency(hub)
        signed = await hub.client.post(f"{BASE}/audit/checkpoints", headers=hub.operator())
        assert signed.status_code == 201
        old_public = tmp_path / "old-public.pem"
        old_public.write_bytes(hub.runtime.keys.public_pem)

    rotated = generate_key_pair()
    (tmp_path / "private.pem").write_bytes(rotated.private_pem or b"")
    (tmp_path / "public.pem").write_bytes(rotated.public_pem)
    monkeypatch.setenv("GOVHUB_JWT_PRIVATE_KEY_FILE", str(tmp_path / "private.pem"))
    monkeypatch.setenv("GOVHUB_JWT_PUBLIC_KEY_FILE", str(tmp_path / "public.pem"))
    async with running_hub(fresh_db_url) as hub:
        unknown = await verification(hub)
        assert unknown["valid"] is False
        assert "no trusted key" in unknown["first_broken"]["reason"]
    monkeypatch.setenv(
        "GOVHUB_AUDIT_PREVIOUS_PUBLIC_KEY_FILES", orjson.dumps([str(old_public)]).decode()
    )
    async with running_hub(fresh_db_url) as hub:
        trusted = await verification(hub)
        assert trusted["valid"] is True, trusted
        assert trusted["checkpoints_verified"] >= 2  # the database's and the exported file
