"""Duplicate: the same benefit to one key from at least N distinct agencies within a window
(relief given to one household twice). Raised as soon as the facts show it."""

from __future__ import annotations

from collections.abc import Sequence

from govhub_alerting.rules.kinds.base import Reference, RuleKind, spec_references
from govhub_alerting.rules.kinds.sql import Candidates, arrived_facts, evidence
from govhub_alerting.rules.language import DuplicateRule, RecordSpec, days_of


class DuplicateKind(RuleKind[DuplicateRule]):
    name = "duplicate"

    def record_specs(self, rule: DuplicateRule) -> list[RecordSpec]:
        return list(rule.records)

    def referenced_fields(self, rule: DuplicateRule) -> dict[str, set[str]]:
        # The facts keep the fields that must be equal as well.
        fields = super().referenced_fields(rule)
        for spec in rule.records:
            fields[spec.topic].update(rule.same)
        return fields

    def window_days(self, rule: DuplicateRule) -> int:
        return days_of(rule.window)

    def references(self, rule: DuplicateRule) -> list[Reference]:
        out: list[Reference] = []
        for i, record in enumerate(rule.records):
            out += spec_references(f"$.records[{i}]", record)
            for j, name in enumerate(rule.same):
                out.append(Reference(f"$.same[{j}]", record.topic, name))
        return out

    def candidates(self, rule: DuplicateRule, fact_ids: Sequence[int] | None) -> Candidates:
        return Candidates(
            _candidates(rule, fact_ids),
            {
                "views": [spec.view for spec in self.record_specs(rule)],
                "window": days_of(rule.window),
                "min_agencies": rule.min_agencies,
            },
        )


DUPLICATE = DuplicateKind()


def _group_key(alias: str, same: Sequence[str]) -> str:
    # Field names are checked against [a-z][a-z0-9_]* by the rule model before they get here.
    parts = [f"{alias}.subject"] + [f"coalesce({alias}.data->>'{name}', '')" for name in same]
    return " || '/' || ".join(parts)


def _candidates(rule: DuplicateRule, fact_ids: Sequence[int] | None) -> str:
    """(subject = key/same values, trigger_date, evidence) where the records of one group
    within `window` days before one of them come from at least `min_agencies` publishers."""
    same_equal = "".join(
        f" AND g.data->'{name}' IS NOT DISTINCT FROM a.data->'{name}'" for name in rule.same
    )
    return f"""
        touched AS (
            SELECT DISTINCT f.subject FROM {arrived_facts(fact_ids)} f
            WHERE f.view = ANY(CAST(:views AS text[]))
        ), groups AS (
            SELECT {_group_key("a", rule.same)} AS subject, a.id AS anchor,
                count(DISTINCT g.publisher) AS agencies, min(g.business_date) AS first_date,
                jsonb_agg({evidence("g")} ORDER BY g.business_date, g.seq) AS evidence
            FROM alerting.facts a JOIN touched USING (subject)
            JOIN alerting.facts g ON g.subject = a.subject
                AND g.view = ANY(CAST(:views AS text[]))
                AND g.business_date BETWEEN a.business_date - CAST(:window AS int) AND a.business_date
                {same_equal}
            WHERE a.view = ANY(CAST(:views AS text[]))
            GROUP BY a.id, 1
            HAVING count(DISTINCT g.publisher) >= CAST(:min_agencies AS int)
        ), candidates AS (
            SELECT DISTINCT ON (subject) subject, first_date AS trigger_date,
                NULL::date AS due_date, evidence
            FROM groups ORDER BY subject, agencies DESC, anchor
        )
    """
