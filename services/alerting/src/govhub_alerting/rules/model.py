"""The rule language: what a warning indicator declares, in YAML files or through the API.

Three kinds, discriminated by `kind`:
- absence: a trigger record not followed by any expected record for the same key within a period;
- contradiction: a record for a key dated after another record that forbids it;
- duplicate: the same benefit to one key from at least N distinct agencies within a window.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import isodate
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

RULE_ID = r"^[a-z][a-z0-9_]{2,63}$"
TOPIC_CODE = r"^[a-z][a-z0-9_]*$"
FIELD_NAME = r"^[a-z][a-z0-9_]*$"
# Reminder parameters may name a field of the trigger record or one of these computed values.
COMPUTED_PARAMS = ("$deadline", "$trigger_date", "$subject")


def _whole_days(value: str) -> str:
    try:
        parsed = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 duration such as P30D") from exc
    if isinstance(parsed, isodate.Duration) or parsed.seconds or parsed.microseconds:
        raise ValueError(f"{value!r} must be a whole number of days or weeks (P30D, P4W)")
    if parsed.days < 0:
        raise ValueError(f"{value!r} must not be negative")
    return value


Days = Annotated[
    str,
    Field(pattern=r"^P\d+[DW]$", examples=["P30D"]),
    AfterValidator(_whole_days),
]


def days_of(duration: str) -> int:
    parsed = isodate.parse_duration(duration)
    return int(parsed.days)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordSpec(_Strict):
    """Records of one topic, read as (key, business date)."""

    topic: str = Field(pattern=TOPIC_CODE, description="Exchange topic code.")
    key: str = Field(pattern=FIELD_NAME, description="Field holding the subject key (uscc ...).")
    date: str = Field(pattern=FIELD_NAME, description="Field holding the business date.")

    @property
    def view(self) -> str:
        """The facts of this topic read through this key and date (a fact row per view)."""
        return f"{self.topic}:{self.key}:{self.date}"


class TriggerSpec(RecordSpec):
    filter: dict[str, str | int | bool] | None = Field(
        None, description="Only records whose fields equal these values trigger the rule."
    )


class Reminder(_Strict):
    after: Days = Field(description="Time after the trigger date when the reminder is due.")
    template: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="SMS template code.")
    recipient_field: str = Field(
        pattern=FIELD_NAME, description="Field of the trigger record holding the +86 mobile."
    )
    params: dict[str, str] = Field(
        default_factory=dict,
        description="Template parameter -> trigger record field, or $deadline, $trigger_date, "
        "$subject.",
    )


Severity = Literal["low", "medium", "high", "critical"]


class _RuleBase(_Strict):
    id: str = Field(pattern=RULE_ID, description="Stable identifier of the rule.")
    title: str = Field(min_length=1, max_length=200, description="Chinese title shown to users.")
    description: str | None = None
    severity: Severity = "medium"
    assigned_agency: str = Field(
        pattern=r"^[a-z][a-z0-9-]*$", description="Agency code the warnings are assigned to."
    )
    enabled: bool = True


class AbsenceRule(_RuleBase):
    kind: Literal["absence"]
    trigger: TriggerSpec
    expected: list[RecordSpec] = Field(
        min_length=1, description="Any of these records for the same key ends the wait."
    )
    within: Days = Field(description="Period after the trigger date (P30D).")
    reminders: list[Reminder] = Field(default_factory=list)
    auto_resolve: bool = Field(
        True, description="An expected record arriving later resolves the warning (complied late)."
    )


class ContradictionRule(_RuleBase):
    kind: Literal["contradiction"]
    forbidding: list[RecordSpec] = Field(
        min_length=1, description="Records after whose date the forbidden records may not occur."
    )
    forbidden: list[RecordSpec] = Field(min_length=1)
    auto_resolve: bool = False


class DuplicateRule(_RuleBase):
    kind: Literal["duplicate"]
    records: list[RecordSpec] = Field(min_length=1, description="The benefit records compared.")
    same: list[str] = Field(
        default_factory=list, description="Fields that must be equal as well (the item)."
    )
    min_agencies: int = Field(2, ge=2, description="Distinct publishing agencies that count.")
    window: Days = Field(description="All counted records lie within this period (P90D).")
    auto_resolve: bool = False


Rule = Annotated[AbsenceRule | ContradictionRule | DuplicateRule, Field(discriminator="kind")]
RULE_ADAPTER: TypeAdapter[AbsenceRule | ContradictionRule | DuplicateRule] = TypeAdapter(Rule)
AnyRule = AbsenceRule | ContradictionRule | DuplicateRule


def rule_json_schema() -> dict[str, Any]:
    return RULE_ADAPTER.json_schema()


def record_specs(rule: AnyRule) -> list[RecordSpec]:
    if isinstance(rule, AbsenceRule):
        return [rule.trigger, *rule.expected]
    if isinstance(rule, ContradictionRule):
        return [*rule.forbidding, *rule.forbidden]
    return list(rule.records)


def referenced_fields(rule: AnyRule) -> dict[str, set[str]]:
    """Fields of each topic the rule reads: they are what a fact keeps of a record."""
    fields: dict[str, set[str]] = {}
    for spec in record_specs(rule):
        fields.setdefault(spec.topic, set()).update({spec.key, spec.date})
    if isinstance(rule, AbsenceRule):
        trigger = fields[rule.trigger.topic]
        trigger.update((rule.trigger.filter or {}).keys())
        for reminder in rule.reminders:
            trigger.add(reminder.recipient_field)
            trigger.update(p for p in reminder.params.values() if not p.startswith("$"))
    if isinstance(rule, DuplicateRule):
        for spec in rule.records:
            fields[spec.topic].update(rule.same)
    return fields


def pydantic_error_path(loc: tuple[Any, ...]) -> str:
    """('absence', 'trigger', 'key') -> '$.trigger.key' (the union tag is dropped)."""
    parts = list(loc)
    if parts and parts[0] in ("absence", "contradiction", "duplicate"):
        parts.pop(0)
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
