"""The registry's events (producer: govhub_registry)."""

from __future__ import annotations

from datetime import date
from typing import Any

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
