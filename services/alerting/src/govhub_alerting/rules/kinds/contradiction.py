"""Contradiction: a record for a key dated after another record that forbids it (a pension
paid after a recorded death). Raised as soon as the facts show it."""

from __future__ import annotations

from collections.abc import Sequence

from govhub_alerting.rules.kinds.base import Reference, RuleKind, spec_references
from govhub_alerting.rules.kinds.sql import Candidates, arrived_facts, evidence
from govhub_alerting.rules.language import ContradictionRule, RecordSpec


class ContradictionKind(RuleKind[ContradictionRule]):
    name = "contradiction"

    def record_specs(self, rule: ContradictionRule) -> list[RecordSpec]:
        return [*rule.forbidding, *rule.forbidden]

    def window_days(self, rule: ContradictionRule) -> None:
        # A forbidden record contradicts at any distance from the forbidding one.
        return None

    def references(self, rule: ContradictionRule) -> list[Reference]:
        out: list[Reference] = []
        for i, record in enumerate(rule.forbidding):
            out += spec_references(f"$.forbidding[{i}]", record)
        for i, record in enumerate(rule.forbidden):
            out += spec_references(f"$.forbidden[{i}]", record)
        return out

    def candidates(self, rule: ContradictionRule, fact_ids: Sequence[int] | None) -> Candidates:
        return Candidates(
            _candidates(fact_ids),
            {
                "views": [spec.view for spec in self.record_specs(rule)],
                "forbidding": [s.view for s in rule.forbidding],
                "forbidden": [s.view for s in rule.forbidden],
            },
        )


CONTRADICTION = ContradictionKind()


def _candidates(fact_ids: Sequence[int] | None) -> str:
    """(subject, trigger_date, evidence) for subjects with a forbidden record dated after the
    first forbidding one."""
    return f"""
        touched AS (
            SELECT DISTINCT f.subject FROM {arrived_facts(fact_ids)} f
            WHERE f.view = ANY(CAST(:views AS text[]))
        ), first_forbidding AS (
            SELECT f.subject, min(f.business_date) AS first_date
            FROM alerting.facts f JOIN touched USING (subject)
            WHERE f.view = ANY(CAST(:forbidding AS text[]))
            GROUP BY f.subject
        ), candidates AS (
            SELECT d.subject, min(g.business_date) AS trigger_date, NULL::date AS due_date,
                (SELECT jsonb_agg({evidence("e")} ORDER BY e.business_date, e.seq)
                 FROM alerting.facts e
                 WHERE e.subject = d.subject
                   AND (e.view = ANY(CAST(:forbidding AS text[]))
                        OR (e.view = ANY(CAST(:forbidden AS text[]))
                            AND e.business_date > d.first_date))) AS evidence
            FROM first_forbidding d
            JOIN alerting.facts g ON g.subject = d.subject
                AND g.view = ANY(CAST(:forbidden AS text[])) AND g.business_date > d.first_date
            GROUP BY d.subject, d.first_date
        )
    """
