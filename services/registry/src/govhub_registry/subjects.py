"""The two kinds of subject the registry keeps, and where each lives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SubjectKind = Literal["legal_entity", "person"]

SOURCE = "govhub/registry"  # the source of the registry's events


@dataclass(frozen=True)
class SubjectTable:
    kind: SubjectKind
    table: str
    key: str
    event_type: str
    event_list: str

    @property
    def label(self) -> str:
        """The kind in words ("legal entity"), for messages."""
        return self.kind.replace("_", " ")


LEGAL_ENTITY = SubjectTable(
    "legal_entity", "registry.legal_entity", "uscc", "registry.legal_entity.changed", "entities"
)
PERSON = SubjectTable(
    "person", "registry.person", "id_number", "registry.person.changed", "persons"
)
SUBJECTS: dict[str, SubjectTable] = {"legal_entity": LEGAL_ENTITY, "person": PERSON}
