"""`govhub console account ...` as an operator runs it: add prints a generated password once,
which then signs in; list, disable and reset-password."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from govhub_common.testing import running_hub
from govhub_console.accounts.service import password_hasher
from tests.common.support import GOVHUB, clean_env
from tests.console.support import browser, login, make_agency


def govhub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GOVHUB, "console", "account", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def test_an_operator_manages_local_accounts(fresh_db_url: str, tmp_path: Path) -> None:
    env = clean_env(GOVHUB_HOME=str(tmp_path), GOVHUB_DATABASE_URL=fresh_db_url)
    added = govhub(
        env, "add", "--username", "zhang", "--agency", "gz-tax", "--role", "case_officer",
        "--name", "张伟",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    password = re.search(r"password \(shown once\): (\S+)", added.stdout)
    assert password, added.stdout
    again = govhub(env, "add", "--username", "zhang", "--agency", "gz-tax", "--role", "operator")
    assert again.returncode == 1, again.stdout + again.stderr
    assert "exists" in again.stderr
    wrong_role = govhub(env, "add", "--username", "x", "--agency", "gz-tax", "--role", "boss")
    assert wrong_role.returncode == 1
    assert "case_officer" in wrong_role.stderr
    listed = govhub(env, "list")
    assert listed.returncode == 0
    assert listed.stdout.split("\n")[0].split("\t") == [
        "zhang", "gz-tax", "case_officer", "active", "张伟"
    ]  # fmt: skip
    import asyncpg

    connection = await asyncpg.connect(fresh_db_url)
    try:
        stored = await connection.fetchval(
            "SELECT password_hash FROM console.accounts WHERE username = 'zhang'"
        )
    finally:
        await connection.close()
    assert stored.startswith("$argon2id$")
    assert password_hasher().verify(stored, password.group(1))

    assert govhub(env, "disable", "--username", "zhang").returncode == 0
    assert "\tdisabled\t" in govhub(env, "list").stdout
    reset = govhub(env, "reset-password", "--username", "zhang")
    assert reset.returncode == 0
    new_password = re.search(r"\(shown once\): (\S+)", reset.stdout)
    assert new_password and new_password.group(1) != password.group(1)
    assert "\tactive\t" in govhub(env, "list").stdout
    assert govhub(env, "disable", "--username", "nobody").returncode == 1

    # The account signs in with the new password, not the old one.
    async with running_hub(fresh_db_url) as hub:
        await make_agency(hub, "gz-tax", "广州市税务局")
        async with browser(hub) as client:
            assert (await login(client, "zhang", password.group(1))).status_code == 401
            reply: httpx.Response = await login(client, "zhang", new_password.group(1))
            assert reply.status_code == 303
