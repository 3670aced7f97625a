"""The declared mapping (a city's RegistryMapping documents) is validated when loaded; the
Guangzhou city's mapping covers every one of its topics."""

from __future__ import annotations

from pathlib import Path

import pytest

from govhub_common.city.format import InvalidCity, kind_specs
from govhub_registry.ingest.mapping import load_mapping

GUANGZHOU = Path(__file__).resolve().parents[3] / "examples" / "cities" / "guangzhou"

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


def test_the_guangzhou_mapping_covers_its_topics() -> None:
    mapping = load_mapping(GUANGZHOU)
    assert set(mapping.topics) == DEMO_TOPICS
    assert {spec["code"] for _, spec in kind_specs(GUANGZHOU, "Topic")} == DEMO_TOPICS
    assert mapping.topics["person_died"].fact is not None
    assert mapping.topics["person_died"].fact.kind == "death"


def test_a_mistake_in_a_mapping_file_names_its_place(tmp_path: Path) -> None:
    good = (
        "kind: RegistryMapping\nspec:\n  topic: person_registered\n  subject: person\n"
        "  key: id_number\n"
    )
    bad = (
        "kind: RegistryMapping\nspec:\n  topic: person_died\n  subject: person\n"
        "  key: id_number\n  attributes:\n    name: {field: name, value: x, rank: 1}\n"
        "  fact: {kind: benefit, date: death_date}\n"
    )
    (tmp_path / "mappings.yaml").write_text(good + "---\n" + bad, encoding="utf-8")
    with pytest.raises(InvalidCity) as raised:
        load_mapping(tmp_path)
    places = {fault.split(": ")[1] for fault in raised.value.faults}
    assert places == {"$.spec.attributes.name", "$.spec.fact"}
    assert all(f.startswith(f"{tmp_path / 'mappings.yaml'}#2: ") for f in raised.value.faults)
