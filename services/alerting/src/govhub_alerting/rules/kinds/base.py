"""What every kind of rule answers: the records it reads, what it names, the SQL of the
warnings it would raise, and what it does when facts arrive, a backfill runs or timers fire.

A kind is a strategy looked up by the rule's `kind` (kinds/__init__.py, `kind_of`); the rule
models (rules/language.py) stay the API's and the store's shape. The defaults are those of a
kind whose warnings the facts show at once (contradiction, duplicate); the absence kind,
judged by deadlines, overrides them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence, Set
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.rules.kinds.sql import Candidates, raise_candidates
from govhub_alerting.rules.language import AnyRule, RecordSpec, RegistryKind

if TYPE_CHECKING:  # rules/service.py imports the kinds (through the catalog)
    from govhub_alerting.rules.service import StoredRule

R = TypeVar("R", bound=AnyRule)

# The attributes of a registry's subjects alerting knows (the catalog's answer).
RegistryAttributes = Callable[[RegistryKind], Set[str]]


class Reference(NamedTuple):
    """Something a rule names, where: a topic (field None) or a field of a topic."""

    path: str
    topic: str
    field: str | None


def spec_references(path: str, spec: RecordSpec) -> list[Reference]:
    """A record spec names its topic, its key and its date field."""
    return [
        Reference(f"{path}.topic", spec.topic, None),
        Reference(f"{path}.key", spec.topic, spec.key),
        Reference(f"{path}.date", spec.topic, spec.date),
    ]


class RuleKind(ABC, Generic[R]):
    """One kind of rule. The engine asks the rule's kind and never tests the rule's class."""

    name: ClassVar[str]
    # Its warnings come from deadlines: it has triggers, timers and a compliance rate.
    has_deadlines: ClassVar[bool] = False

    def rule_of(self, stored: StoredRule) -> R:
        """The stored rule as this kind's model (kind_of found this kind by its `kind`)."""
        return cast(R, stored.rule)

    # ------------------------------------------------------------ what the rule reads

    @abstractmethod
    def record_specs(self, rule: R) -> list[RecordSpec]:
        """The records the rule reads: a fact per record and spec (view)."""

    def referenced_fields(self, rule: R) -> dict[str, set[str]]:
        """Fields of each topic the rule reads: they are what a fact keeps of a record."""
        fields: dict[str, set[str]] = {}
        for spec in self.record_specs(rule):
            fields.setdefault(spec.topic, set()).update({spec.key, spec.date})
        return fields

    def topics(self, rule: R) -> list[str]:
        """Every topic the rule reads, once each, in the order the rule names them."""
        return list(dict.fromkeys(spec.topic for spec in self.record_specs(rule)))

    @abstractmethod
    def window_days(self, rule: R) -> int | None:
        """The rule's deadline (absence) or window (duplicate) in days, announced with the
        rule (rules/announcements.py); None for a kind without one."""

    # ----------------------------------------------------- what the rule names (checks)

    @abstractmethod
    def references(self, rule: R) -> list[Reference]:
        """Every topic and field the rule names, with its JSON path (the catalog checks them)."""

    def registry_errors(
        self,
        rule: R,
        *,
        registry_attributes: RegistryAttributes,
        contact_attributes: tuple[str, ...],
    ) -> list[dict[str, str]]:
        """Faults of the registry attributes the rule names (none but absence reminders do)."""
        return []

    # ------------------------------------------------------------ judging the facts

    @abstractmethod
    def candidates(self, rule: R, fact_ids: Sequence[int] | None) -> Candidates:
        """The warnings the facts show (over `fact_ids` and their subjects, or all facts)."""

    async def raise_warnings(
        self,
        session: AsyncSession,
        *,
        stored: StoredRule,
        fact_ids: Sequence[int] | None,
        now: datetime,
    ) -> list[Any]:
        """Raise the candidates as warnings: the warnings raised."""
        return await raise_candidates(
            session,
            stored=stored,
            candidates=self.candidates(self.rule_of(stored), fact_ids),
            fact_ids=fact_ids,
            now=now,
        )

    async def judge_new_facts(
        self,
        session: AsyncSession,
        *,
        stored: StoredRule,
        new_facts: Mapping[str, Sequence[int]],
        now: datetime,
    ) -> tuple[list[Any], list[Any]]:
        """The event path, for facts that just arrived by view: (raised, resolved) warnings.
        By default the rule raises as soon as the facts show it."""
        ids = [
            i
            for spec in self.record_specs(self.rule_of(stored))
            for i in new_facts.get(spec.view, ())
        ]
        if not ids:
            return [], []
        return await self.raise_warnings(session, stored=stored, fact_ids=ids, now=now), []

    async def resolve_complied(
        self,
        session: AsyncSession,
        *,
        stored: StoredRule,
        subjects: Sequence[str],
        now: datetime,
    ) -> list[Any]:
        """Warnings just raised (backfill, fired timers) that records already stored resolve:
        the warnings resolved. None by default."""
        return []

    async def set_timers(
        self, session: AsyncSession, *, stored: StoredRule, due_after: datetime
    ) -> int:
        """A backfill's timers still ahead (due after `due_after`): how many. None by default."""
        return 0

    async def cohort(
        self, session: AsyncSession, *, rule: R, period_from: date, period_to: date
    ) -> tuple[int, int]:
        """Figures: (triggers in the period, those complied with on time). (0, 0) for a kind
        without deadlines."""
        return 0, 0

    async def cohort_by_month(
        self, session: AsyncSession, *, rule: R, period_from: date, period_to: date
    ) -> dict[str, tuple[int, int]]:
        """The cohort figures per month of the trigger's business date (`YYYY-MM`), the
        months with a trigger only. None for a kind without deadlines."""
        return {}
