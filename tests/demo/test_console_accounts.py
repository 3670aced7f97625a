"""`govhub demo`'s console accounts: one person per role on the hub it serves, with
passwords kept (0600) under GOVHUB_HOME and the same at the next run, whose database is new."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncpg

from govhub_common.db import asyncpg_dsn
from govhub_common.testing import running_hub
from govhub_demo.console_accounts import accounts_path, ensure_demo_accounts, read_accounts
from tests.console.support import browser, login, make_agency


async def test_the_demo_accounts_sign_in_and_keep_their_passwords(
    fresh_db_url: str, tmp_path: Path
) -> None:
    async with running_hub(fresh_db_url) as hub:
        first = {a.username: a for a in await ensure_demo_accounts(fresh_db_url, tmp_path)}
        assert {(a.username, a.role, a.agency) for a in first.values()} == {
            ("ltax-officer", "case_officer", "gz-ltax"),
            ("amr-steward", "data_steward", "gz-amr"),
            ("hub-operator", "operator", "gz-datacenter"),
        }
        assert stat.S_IMODE(accounts_path(tmp_path).stat().st_mode) == 0o600
        assert read_accounts(tmp_path) == first

        # A re-run starts on a new database: the accounts come back with the same passwords.
        conn = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
        try:
            await conn.execute("DELETE FROM console.accounts")
        finally:
            await conn.close()
        again = {a.username: a for a in await ensure_demo_accounts(fresh_db_url, tmp_path)}
        assert again == first
        # And on the same database (the accounts exist): still the same.
        assert {a.username: a for a in await ensure_demo_accounts(fresh_db_url, tmp_path)} == first

        await make_agency(hub, "gz-ltax", "广州市地方税务局")
        officer = first["ltax-officer"]
        async with browser(hub) as client:
            assert (await login(client, officer.username, "not-the-password")).status_code == 401
            signed_in = await login(client, officer.username, officer.password)
            assert signed_in.status_code == 303, signed_in.text
            home = await client.get("/console/")
            assert "陈晓明" in home.text
            assert "个案办理人员" in home.text
