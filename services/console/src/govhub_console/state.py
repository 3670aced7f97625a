"""What one console process keeps between requests (ServiceSpec.state)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

from govhub_common.persons import console_client_secret
from govhub_common.runtime import ServiceContext
from govhub_console.accounts.service import password_hasher
from govhub_console.hub_api import HubApi, check_reachable
from govhub_console.i18n import Catalogs, load_catalogs

PACKAGE = Path(__file__).parent
# The domains whose templates/ folder is reachable as "<domain>/<name>.html": every
# package of the console with one.
DOMAINS = tuple(sorted(path.parent.name for path in PACKAGE.glob("*/templates")))
STATIC = PACKAGE / "static"


@dataclass
class ConsoleState:
    templates: Environment
    catalogs: Catalogs
    hasher: PasswordHasher
    client_secret: str
    login_key: bytes  # MACs the sign-in form's CSRF token
    static: dict[str, bytes]
    # Verified against when a username is unknown, so that costs what a wrong password does.
    dummy_hash: str = ""
    api: HubApi | None = field(default=None)

    def hub_api(self) -> HubApi:
        assert self.api is not None, "the console's startup makes its API client"
        return self.api


def template_environment() -> Environment:
    loader = ChoiceLoader(
        [
            FileSystemLoader(PACKAGE / "templates"),
            PrefixLoader({d: FileSystemLoader(PACKAGE / d / "templates") for d in DOMAINS}),
        ]
    )
    return Environment(loader=loader, autoescape=True, undefined=StrictUndefined)


def static_files() -> dict[str, bytes]:
    """Every file the console serves, read once: only these names answer."""
    return {path.name: path.read_bytes() for path in sorted(STATIC.iterdir()) if path.is_file()}


def make_state(ctx: ServiceContext) -> ConsoleState:
    check_reachable(ctx.runtime, ctx.settings)  # refuse to start rather than fail later
    secret = console_client_secret(ctx.settings)
    return ConsoleState(
        templates=template_environment(),
        catalogs=load_catalogs(),
        hasher=password_hasher(),
        client_secret=secret,
        login_key=hmac.new(secret.encode(), b"govhub-console-login", hashlib.sha256).digest(),
        static=static_files(),
    )
