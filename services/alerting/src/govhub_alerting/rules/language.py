"""The rule language: what a warning indicator declares, in YAML files or through the API.

Three kinds, discriminated by `kind`:
- absence: a trigger record not followed by any expected record for the same key within a period;
- contradiction: a record for a key dated after another record that forbids it;
- duplicate: the same benefit to one key from at least N distinct agencies within a window.

These models are the rules' shape (the API's and the store's); what each kind means, from the
records it reads to its SQL, is its module in rules/kinds/.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import isodate
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

RULE_ID = r"^[a-z][a-z0-9_]{2,63}$"
TOPIC_CODE = r"^[a-z][a-z0-9_]*$"
FIELD_NAME = r"^[a-z][a-z0-9_]*$"
# Reminder parameters may name a field of the trigger record or one of these computed values.
COMPUTED_PARAMS = ("$deadline", "$trigger_date", "$subject")
# Periods are whole days up to a century (beyond, dates leave the calendar).
MAX_DAYS = 36600


def _whole_days(value: str) -> str:
    try:
        parsed = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError, OverflowError) as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 duration such as P30D") from exc
    if isinstance(parsed, isodate.Duration) or parsed.seconds or parsed.microseconds:
        raise ValueError(f"{value!r} must be a whole number of days or weeks (P30D, P4W)")
    if parsed.days < 0:
        raise ValueError(f"{value!r} must not be negative")
    if parsed.days > MAX_DAYS:
        raise ValueError(f"{value!r} must be at most P{MAX_DAYS}D (100 years)")
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


# What PostgreSQL's text and bigint hold (a rule is stored as JSON and read by SQL).
NO_NUL = r"^[^\x00]*$"
FilterInt = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class TriggerSpec(RecordSpec):
    filter: dict[str, str | FilterInt | bool] | None = Field(
        None, description="Only records whose fields equal these values trigger the rule."
    )


RegistryKind = Literal["legal_entity", "person"]
# The registry a subject key belongs to, when a reminder does not say (uscc -> legal entity).
REGISTRY_OF_KEY: dict[str, RegistryKind] = {"uscc": "legal_entity", "id_number": "person"}


class Recipient(_Strict):
    """Where a reminder's mobile comes from: the registry's current value of an attribute of
    the subject, the trigger record's field, or both (the registry first, the field while the
    registry knows none)."""

    registry_attribute: str | None = Field(
        None,
        pattern=FIELD_NAME,
        description="Registry attribute of the subject holding the +86 mobile (mobile), as of "
        "the latest change alerting has seen.",
    )
    registry: RegistryKind | None = Field(
        None,
        description="Which registry the subject is in; by default read from the trigger key "
        "(uscc: legal_entity, id_number: person).",
    )
    field: str | None = Field(
        None,
        pattern=FIELD_NAME,
        description="Field of the trigger record holding the +86 mobile (the fallback when "
        "registry_attribute is given too).",
    )

    @model_validator(mode="after")
    def _a_source(self) -> Recipient:
        if self.registry_attribute is None and self.field is None:
            raise ValueError("name a registry_attribute or a field (or both)")
        if self.registry is not None and self.registry_attribute is None:
            raise ValueError("registry is only read with registry_attribute")
        return self


class Reminder(_Strict):
    after: Days = Field(description="Time after the trigger date when the reminder is due.")
    template: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="SMS template code.")
    recipient: Recipient | None = Field(
        None,
        description="Where the mobile comes from: {registry_attribute: mobile} and/or "
        "{field: mobile}.",
        examples=[{"registry_attribute": "mobile", "field": "mobile"}],
    )
    recipient_field: str | None = Field(
        None,
        pattern=FIELD_NAME,
        description="Field of the trigger record holding the +86 mobile: the older spelling "
        "of recipient: {field: ...}.",
    )
    params: dict[str, str] = Field(
        default_factory=dict,
        description="Template parameter -> trigger record field, or $deadline, $trigger_date, "
        "$subject.",
    )

    @model_validator(mode="after")
    def _one_recipient(self) -> Reminder:
        if (self.recipient is None) == (self.recipient_field is None):
            raise ValueError("give exactly one of recipient and recipient_field")
        return self

    @property
    def field(self) -> str | None:
        """The trigger record's field holding the mobile, in either spelling."""
        return self.recipient.field if self.recipient else self.recipient_field

    @property
    def registry_attribute(self) -> str | None:
        return self.recipient.registry_attribute if self.recipient else None


Severity = Literal["low", "medium", "high", "critical"]


class _RuleBase(_Strict):
    id: str = Field(pattern=RULE_ID, description="Stable identifier of the rule.")
    title: str = Field(
        min_length=1, max_length=200, pattern=NO_NUL, description="Chinese title shown to users."
    )
    description: str | None = Field(None, pattern=NO_NUL)
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
    min_agencies: int = Field(
        2, ge=2, le=1000, description="Distinct publishing agencies that count."
    )
    window: Days = Field(description="All counted records lie within this period (P90D).")
    auto_resolve: bool = False


Rule = Annotated[AbsenceRule | ContradictionRule | DuplicateRule, Field(discriminator="kind")]
RULE_ADAPTER: TypeAdapter[AbsenceRule | ContradictionRule | DuplicateRule] = TypeAdapter(Rule)
AnyRule = AbsenceRule | ContradictionRule | DuplicateRule


def rule_json_schema() -> dict[str, Any]:
    return RULE_ADAPTER.json_schema()


def pydantic_error_path(loc: tuple[Any, ...]) -> str:
    """('absence', 'trigger', 'key') -> '$.trigger.key' (the union tag is dropped)."""
    parts = list(loc)
    if parts and parts[0] in ("absence", "contradiction", "duplicate"):
        parts.pop(0)
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
