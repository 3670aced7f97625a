"""The declared mapping and access policy are validated when loaded; the defaults cover
every demo topic."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from govhub_registry.access.policy import load_access_policy
from govhub_registry.ingest.mapping import load_mapping

DEMO_TOPICS = {
    "enterprise_registered",
    "enterprise_deregistered",
    "quality_code_assigned",
    "local_tax_registered",
    "national_tax_registered",
    "local_tax_deregistered",
    "national_tax_deregistered",
    "person_registered",
    "person_died",
    "death_certified",
    "pension_paid",
    "civil_relief_given",
    "union_relief_given",
    "redcross_relief_given",
}


def test_the_default_mapping_covers_the_demo_topics() -> None:
    mapping = load_mapping()
    assert set(mapping.topics) == DEMO_TOPICS
    assert mapping.topics["person_died"].fact is not None
    assert mapping.topics["person_died"].fact.kind == "death"


def test_a_mistake_in_a_mapping_file_names_its_place(tmp_path: Path) -> None:
    bad = tmp_path / "mapping.yaml"
    bad.write_text(
        "topics:\n  person_died:\n    subject: person\n    key: id_number\n"
        "    attributes:\n      name: {field: name, value: x, rank: 1}\n"
        "    fact: {kind: benefit, date: death_date}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as raised:
        load_mapping(bad)
    places = {".".join(str(p) for p in e["loc"]) for e in raised.value.errors()}
    assert places == {"topics.person_died.attributes.name", "topics.person_died.fact"}


def test_an_unknown_key_in_the_access_policy_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("agencies:\n  gz-ltax:\n    persons: [name]\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_access_policy(bad)
