"""The home page: who the person is, and the menu of their role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from govhub_common.persons import ROLE_SCOPES


@dataclass(frozen=True)
class MenuEntry:
    key: str  # the catalog's menu.<key>
    path: str  # under the console's prefix
    scope: str | None  # shown to roles granted this scope; None: to every role


# In the order the menu shows them. Pages not built yet answer 404 until they are.
MENU: Final = (
    MenuEntry("warnings", "/warnings", "alerting:read"),
    MenuEntry("topics", "/topics", "exchange:catalog"),
    MenuEntry("subscriptions", "/subscriptions", "exchange:subscribe"),
    MenuEntry("clients", "/clients", "exchange:clients"),
    MenuEntry("agencies", "/agencies", "operator"),
    MenuEntry("catalog", "/catalog", "operator"),
    MenuEntry("audit", "/audit", "operator"),
    MenuEntry("events", "/events", "operator"),
    MenuEntry("rules", "/rules", "operator"),
    MenuEntry("sms_templates", "/sms-templates", "operator"),
    MenuEntry("registry", "/registry", "operator"),
    # Every role: operators rank the agencies, anyone else reads their own agency's.
    MenuEntry("scorecards", "/scorecards", None),
)


def menu_for(role: str) -> list[MenuEntry]:
    """The entries of a role: those whose scope the role is granted (persons.ROLE_SCOPES, the
    table the exchange grants from), and those of every role."""
    scopes = ROLE_SCOPES.get(role, frozenset())
    return [entry for entry in MENU if entry.scope is None or entry.scope in scopes]
