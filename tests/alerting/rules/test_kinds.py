"""The kinds of rule: one registration for the three kinds the rule language tells apart,
and, for each kind, what the catalog checks a rule names is what its facts keep."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from govhub_alerting.rules.kinds import KINDS, kind_of, referenced_fields
from govhub_alerting.rules.language import AnyRule
from govhub_alerting.rules.service import parse_rule


def city_rules() -> list[AnyRule]:
    rules = Path(os.environ["GOVHUB_CITY_FILES"]) / "rules.yaml"
    return [parse_rule(doc["spec"]) for doc in yaml.safe_load_all(rules.read_text("utf-8"))]


FILTERED: dict[str, Any] = {
    "id": "filtered_absence",
    "kind": "absence",
    "title": "有过滤条件的规则",
    "assigned_agency": "gz-ltax",
    "trigger": {
        "topic": "enterprise_registered",
        "key": "uscc",
        "date": "established_date",
        "filter": {"type": "limited"},
    },
    "expected": [{"topic": "local_tax_registered", "key": "uscc", "date": "registered_date"}],
    "within": "P30D",
    "reminders": [
        {
            "after": "P20D",
            "template": "tax_registration_reminder",
            "recipient_field": "mobile",
            "params": {"name": "name", "deadline": "$deadline"},
        }
    ],
}


def test_every_kind_of_the_rule_language_has_its_one_registration() -> None:
    tags = {get_args(model.model_fields["kind"].annotation)[0] for model in get_args(AnyRule)}
    assert set(KINDS) == tags
    assert all(kind.name == name for name, kind in KINDS.items())


@pytest.mark.parametrize("rule", [*city_rules(), parse_rule(FILTERED)], ids=lambda rule: rule.id)
def test_what_a_rule_names_is_what_its_facts_keep(rule: AnyRule) -> None:
    kind = kind_of(rule)
    named: dict[str, set[str]] = {}
    for reference in kind.references(rule):
        fields = named.setdefault(reference.topic, set())
        if reference.field is not None:
            fields.add(reference.field)
    assert named == referenced_fields(rule)
    assert {spec.topic for spec in kind.record_specs(rule)} == set(named)
