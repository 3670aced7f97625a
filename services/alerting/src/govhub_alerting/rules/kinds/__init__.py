"""The kinds of rule, one module each (absence.py, contradiction.py, duplicate.py), and the one
registration of them: a rule's kind is `kind_of(rule)`, found by its `kind`."""

from __future__ import annotations

from typing import Any

from govhub_alerting.rules.kinds.absence import ABSENCE
from govhub_alerting.rules.kinds.base import RuleKind
from govhub_alerting.rules.kinds.contradiction import CONTRADICTION
from govhub_alerting.rules.kinds.duplicate import DUPLICATE
from govhub_alerting.rules.language import AnyRule, RecordSpec

KINDS: dict[str, RuleKind[Any]] = {kind.name: kind for kind in (ABSENCE, CONTRADICTION, DUPLICATE)}


def kind_of(rule: AnyRule) -> RuleKind[Any]:
    return KINDS[rule.kind]


def record_specs(rule: AnyRule) -> list[RecordSpec]:
    """The records the rule reads: a fact per record and spec (view)."""
    return kind_of(rule).record_specs(rule)


def referenced_fields(rule: AnyRule) -> dict[str, set[str]]:
    """Fields of each topic the rule reads: they are what a fact keeps of a record."""
    return kind_of(rule).referenced_fields(rule)
