"""The registry's events (producer: govhub_registry)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from govhub_common.event_contracts._base import Contract


class SubjectChange(Contract):
    attributes: list[str] = Field(description="The names of the attributes that changed.")
    values: dict[str, Any] = Field(
        description="The current value of each changed attribute (null: none any more)."
    )
    source_agency: str
    seq: int | None = Field(description="The last record's seq in the source topic.")


class LegalEntityChange(SubjectChange):
    uscc: str


class PersonChange(SubjectChange):
    id_number: str


class LegalEntitiesChanged(Contract):
    entities: list[LegalEntityChange]


class PersonsChanged(Contract):
    persons: list[PersonChange]


class Death(Contract):
    id_number: str
    death_date: date
    source_agency: str
    seq: int | None


class PersonsDeceased(Contract):
    persons: list[Death]


CONFLICTS_CHANGED = "registry.conflicts.changed"


class ConflictParty(Contract):
    agency: str
    topic: str | None = Field(
        description="The topic the agency's claim came from, when the registry can tell; null "
        "otherwise."
    )


class ConflictChange(Contract):
    conflict_id: int
    subject_kind: str = Field(description="person or legal_entity.")
    attribute: str
    status: Literal["open", "resolved", "settled"] = Field(
        description="open; resolved: the agencies agree again; settled: an operator dealt with "
        "it. resolved and settled are final (a later disagreement is a new conflict)."
    )
    authority: str | None = Field(
        description="The agency whose claim ranks first for the attribute (the authoritative "
        "source); null when none of the claimants is (the best rank is shared)."
    )
    dissenters: list[ConflictParty] = Field(
        description="The agencies whose value differs from the authority's (every claimant "
        "when there is no authority)."
    )
    detected_at: datetime
    closed_at: datetime | None = Field(
        description="When it was resolved (the agencies agree again) or settled by an operator."
    )


class ConflictsChanged(Contract):
    """Each entry is the conflict's whole current state: a consumer keeps the newest per
    conflict_id."""

    conflicts: list[ConflictChange]
