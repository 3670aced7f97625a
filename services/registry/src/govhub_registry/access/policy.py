"""Field-level authorisation: which attributes an agency sees (YAML access policy)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from govhub_common.identifiers import mask_ric
from govhub_common.security import Principal
from govhub_registry.subjects import SubjectKind

DEFAULT_POLICY = Path(__file__).with_name("default_access_policy.yaml")
ALL = "*"
REGISTRATIONS = "registrations"
# Attributes holding another person's resident ID number.
IDENTIFIER_ATTRIBUTES = frozenset({"legal_rep_id"})
# A legal entity's attributes that are its legal representative's personal data: a read
# shown any of them is logged on that person too (lookup.service.representative_read).
REPRESENTATIVE_ID = "legal_rep_id"
REPRESENTATIVE_ATTRIBUTES = frozenset({REPRESENTATIVE_ID, "legal_rep_name"})


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None: as the policy's default grant says.
    legal_entity: list[str] | None = None
    person: list[str] | None = None
    identifiers: bool = False


class AccessPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Grant = Grant()
    agencies: dict[str, Grant] = {}

    def view(self, principal: Principal, kind: SubjectKind) -> View:
        if principal.is_operator:
            return View(frozenset({ALL}), unmask=True)
        grant = self.agencies.get(principal.agency, self.default)
        fields = getattr(grant, kind)
        if fields is None:
            fields = getattr(self.default, kind) or []
        return View(frozenset(fields), unmask=grant.identifiers)


@dataclass(frozen=True)
class View:
    """What one caller may see of one kind of subject."""

    fields: frozenset[str]
    unmask: bool

    def allows(self, name: str) -> bool:
        return ALL in self.fields or name in self.fields

    def shape(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Only granted attributes; other people's ID numbers masked unless granted."""
        shown: dict[str, Any] = {}
        for name, value in attributes.items():
            if not self.allows(name):
                continue
            if name in IDENTIFIER_ATTRIBUTES and not self.unmask and isinstance(value, str):
                value = mask_ric(value)
            shown[name] = value
        return shown


def load_access_policy(path: Path | None = None) -> AccessPolicy:
    raw = yaml.safe_load((path or DEFAULT_POLICY).read_text(encoding="utf-8"))
    return AccessPolicy.model_validate(raw)


@lru_cache
def default_access_policy() -> AccessPolicy:
    return load_access_policy()
