"""The demo's console accounts: one person of each role, made on the hub the demo serves so
the console (/console/) can be tried on the replayed city at once."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from govhub_common.files import write_private

ACCOUNTS_FILE = "console-demo-accounts"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    agency: str
    role: str
    name: str
    password: str = ""


# The agencies are the Guangzhou city's (govhub_demo/guangzhou/agencies.yaml); operators
# belong to the data center's own agency, the only one the exchange lets hold `operator`.
DEMO_ACCOUNTS = (
    DemoAccount("ltax-officer", "gz-ltax", "case_officer", "陈晓明"),
    DemoAccount("amr-steward", "gz-amr", "data_steward", "林慧"),
    DemoAccount("hub-operator", "gz-datacenter", "operator", "周建国"),
)


def accounts_path(home: str | Path) -> Path:
    return Path(home) / ACCOUNTS_FILE


def read_accounts(home: str | Path) -> dict[str, DemoAccount]:
    """The accounts a previous run wrote, by username (none when there is no file)."""
    path = accounts_path(home)
    if not path.exists():
        return {}
    kept = orjson.loads(path.read_bytes())
    return {name: DemoAccount(**fields) for name, fields in kept.items()}


async def ensure_demo_accounts(database_url: str, home: str | Path) -> list[DemoAccount]:
    """Make the demo accounts on the hub's database, with the passwords of the previous run
    when GOVHUB_HOME has them (so a re-run does not change them), new ones otherwise; the
    accounts and passwords are written to GOVHUB_HOME/console-demo-accounts (0600)."""
    from govhub_common.db import Database
    from govhub_console.accounts import service
    from govhub_console.accounts.models import Account

    known = read_accounts(home)
    hasher = service.password_hasher()
    made: list[DemoAccount] = []
    db = Database(database_url, pool_size=1)
    try:
        async with db.session() as session:
            for account in DEMO_ACCOUNTS:
                password = known[account.username].password if account.username in known else ""
                row = await session.get(Account, account.username)
                if row is None:
                    generated = await service.add_account(
                        session,
                        hasher=hasher,
                        username=account.username,
                        agency=account.agency,
                        role=account.role,
                        display_name=account.name,
                    )
                    password = password or generated
                    row = await session.get(Account, account.username)
                    assert row is not None
                if not password:
                    password = service.generate_password()
                # The hub's database is made afresh at each run; the person's password is not.
                row.password_hash = await service.hash_password(hasher, password)
                row.agency, row.role, row.display_name = account.agency, account.role, account.name
                row.disabled, row.failed_attempts, row.locked_until = False, 0, None
                made.append(DemoAccount(**{**asdict(account), "password": password}))
    finally:
        await db.close()
    body = {a.username: asdict(a) for a in made}
    write_private(accounts_path(home), orjson.dumps(body, option=orjson.OPT_INDENT_2))
    return made
