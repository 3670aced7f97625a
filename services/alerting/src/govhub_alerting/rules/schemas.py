"""API models of rules (the rule itself is the rule language model)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_serializer

from govhub_alerting.fields import Integer, Moment
from govhub_alerting.rules.language import AnyRule, Rule

# The rule of the founding document, as the API takes it (rules/defaults has its YAML file).
RULE_EXAMPLE: dict[str, Any] = {
    "id": "tax_registration_missing",
    "kind": "absence",
    "title": "应办未办税务登记",
    "description": "企业领取营业执照后30日内未办理税务登记",
    "severity": "high",
    "assigned_agency": "gz-ltax",
    "trigger": {"topic": "enterprise_registered", "key": "uscc", "date": "established_date"},
    "expected": [
        {"topic": "local_tax_registered", "key": "uscc", "date": "registered_date"},
        {"topic": "national_tax_registered", "key": "uscc", "date": "registered_date"},
    ],
    "within": "P30D",
    "reminders": [
        {
            "after": "P20D",
            "template": "tax_registration_reminder",
            "recipient": {"registry_attribute": "mobile", "field": "mobile"},
            "params": {"name": "name", "deadline": "$deadline"},
        }
    ],
    "auto_resolve": True,
}

RULE_YAML_EXAMPLE = """\
id: tax_registration_missing
kind: absence
title: 应办未办税务登记
description: 企业领取营业执照后30日内未办理税务登记
severity: high
assigned_agency: gz-ltax
trigger: {topic: enterprise_registered, key: uscc, date: established_date}
expected:
  - {topic: local_tax_registered, key: uscc, date: registered_date}
  - {topic: national_tax_registered, key: uscc, date: registered_date}
within: P30D
reminders:
  - after: P20D
    template: tax_registration_reminder
    recipient: {registry_attribute: mobile, field: mobile}
    params: {name: name, deadline: $deadline}
auto_resolve: true
"""

_EVIDENCE_EXAMPLE: dict[str, Any] = {
    "topic": "enterprise_registered",
    "seq": 18234,
    "publisher": "gz-amr",
    "subject": "91440101MA5CXXXX1K",
    "business_date": "2026-03-02",
    "data": {"uscc": "91440101MA5CXXXX1K", "established_date": "2026-03-02"},
}


class RuleLanguageSchema(BaseModel):
    """The JSON Schema (2020-12) of the rule language: one of three kinds, told by `kind`."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    discriminator: dict[str, Any] = Field(description="`kind` and the definition of each kind.")
    one_of: list[dict[str, Any]] = Field(alias="oneOf", description="The three kinds.")
    defs: dict[str, dict[str, Any]] = Field(
        alias="$defs", description="AbsenceRule, ContradictionRule, DuplicateRule and parts."
    )


class RulePublic(BaseModel):
    """A stored rule: its current version and definition."""

    id: str
    version: int = Field(description="The current version; each update adds one.")
    enabled: bool
    source: Literal["file", "api"] = Field(
        description="Where the current version came from: a rule file or the API."
    )
    updated_at: datetime
    updated_by: str = Field(
        description="The operator agency, or an operator in person "
        "(`<agency>/<person>`), or `file`, that changed it last."
    )
    definition: Rule = Field(description="The rule, in the rule language.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "tax_registration_missing",
                    "version": 2,
                    "enabled": True,
                    "source": "api",
                    "updated_at": "2026-03-01T09:30:00+08:00",
                    "updated_by": "gz-datacenter",
                    "definition": RULE_EXAMPLE,
                }
            ]
        }
    )

    @field_serializer("definition")
    def serialize_definition(self, rule: AnyRule) -> dict[str, Any]:
        # As written: the optional parts not given stay out.
        return rule.model_dump(mode="json", exclude_none=True)


class RuleVersion(BaseModel):
    """One version of a rule, as it was stored."""

    version: int
    definition: Rule
    source: Literal["file", "api"]
    created_at: datetime
    created_by: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": 1,
                    "definition": RULE_EXAMPLE,
                    "source": "file",
                    "created_at": "2026-01-05T08:00:00+08:00",
                    "created_by": "file",
                }
            ]
        }
    )

    @field_serializer("definition")
    def serialize_definition(self, rule: AnyRule) -> dict[str, Any]:
        return rule.model_dump(mode="json", exclude_none=True)


class BackfillRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"as_of": "2026-04-30T23:59:59+08:00", "dry_run": True, "limit": 100}]
        },
    )

    as_of: Moment | None = Field(None, description="Evaluate as of this time (default now).")
    dry_run: StrictBool = Field(True, description="List what would be raised; change nothing.")
    limit: Integer = Field(100, ge=1, le=1000, description="How many would-be warnings to list.")


class Evidence(BaseModel):
    """A record behind a warning: its exchange sequence and the fields the rule reads."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_EVIDENCE_EXAMPLE]})

    topic: str
    seq: int = Field(description="The record's sequence number in the exchange.")
    publisher: str = Field(description="The agency that published the record.")
    subject: str = Field(description="The subject key (USCC, ID number, household...).")
    business_date: date
    data: dict[str, Any] = Field(description="The record's fields the rules read.")


class WouldRaise(BaseModel):
    subject: str
    trigger_date: date
    due_date: date | None
    evidence: list[Evidence]


class BackfillResult(BaseModel):
    """What a rule raises (or would raise) over the history alerting keeps."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rule_id": "tax_registration_missing",
                    "as_of": "2026-04-30T15:59:59Z",
                    "dry_run": True,
                    "would_raise": 1,
                    "warnings": [
                        {
                            "subject": "91440101MA5CXXXX1K",
                            "trigger_date": "2026-03-02",
                            "due_date": "2026-04-01",
                            "evidence": [_EVIDENCE_EXAMPLE],
                        }
                    ],
                    "raised": 0,
                    "timers_created": 0,
                }
            ]
        }
    )

    rule_id: str
    as_of: datetime
    dry_run: bool
    would_raise: int = Field(description="How many warnings the rule raises as of `as_of`.")
    warnings: list[WouldRaise] = Field(description="Those listed (a dry run, up to `limit`).")
    raised: int = Field(0, description="Warnings raised (not a dry run).")
    timers_created: int = Field(0, description="Deadlines and reminders set (not a dry run).")
