"""The scorecard as the API, the hub_scorecards topic and the console show it
(docs/quality.md defines every figure)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from govhub_common.inputs import Moment

Dimension = Literal[
    "timeliness", "validity", "uniqueness", "consistency", "completeness", "responsiveness"
]
DIMENSIONS: tuple[Dimension, ...] = (
    "timeliness",
    "validity",
    "uniqueness",
    "consistency",
    "completeness",
    "responsiveness",
)


class Period(BaseModel):
    from_date: date = Field(alias="from", description="First business date (Asia/Shanghai).")
    to_date: date = Field(alias="to", description="Last business date, included.")
    month: str | None = Field(description="`YYYY-MM` when the period is one calendar month.")

    model_config = {"populate_by_name": True}


class DeadlineShare(BaseModel):
    topic: str
    rule_id: str
    window_days: int
    later: int = Field(description="Dated records that arrived at least window_days late.")
    share: float | None


class Timeliness(BaseModel):
    records: int = Field(description="Accepted records (first and new versions).")
    dated: int = Field(description="Of those, the records that carry a business time.")
    delay_p50_seconds: int | None = Field(description="Median delay, business time to arrival.")
    delay_p95_seconds: int | None
    same_day: int = Field(description="Dated records that arrived on their business date.")
    same_day_share: float | None
    within_target: int = Field(description="Dated records with a delay under the target.")
    target_seconds: int
    later_than_deadlines: list[DeadlineShare] = Field(
        description="Per warning rule reading the topic, the records later than its window."
    )
    score: float | None


class Fault(BaseModel):
    topic: str
    item: str = Field(description="The data item, `(envelope)` or `(undeclared)`.")
    rule: str = Field(description="The JSON Schema keyword broken (format, required ...).")
    records: int


class Validity(BaseModel):
    received: int = Field(description="Records in publish requests.")
    rejected: int
    rejected_share: float | None
    faults: list[Fault] = Field(description="The most frequent faults, most first.")
    score: float | None


class Uniqueness(BaseModel):
    received: int
    duplicates: int = Field(description="Records sent again unchanged.")
    duplicate_share: float | None
    new_versions: int = Field(description="Changed data for a record id already published.")
    new_version_share: float | None
    score: float | None


class Consistency(BaseModel):
    records: int = Field(description="Accepted records.")
    conflicts: int = Field(
        description="Registry conflicts detected in the period where the agency's value "
        "contradicts the authoritative agency's."
    )
    conflict_share: float | None = Field(description="conflicts / records.")
    settled: int = Field(description="Of those, resolved or settled since.")
    settled_share: float | None
    median_settle_seconds: int | None
    score: float | None


class ItemFill(BaseModel):
    topic: str
    item: str
    filled: int
    records: int
    share: float | None


class Completeness(BaseModel):
    items: list[ItemFill] = Field(description="Each optional data item of the topics.")
    score: float | None


class Responsiveness(BaseModel):
    requests_waiting: int = Field(
        description="Subscription requests to the agency's topics awaiting its decision at "
        "the period's end."
    )
    oldest_request_age_seconds: int | None
    requests_decided: int = Field(description="Requests the agency decided in the period.")
    median_decision_seconds: int | None
    requests_on_time: int = Field(description="Decided within the target.")
    requests_overdue: int = Field(description="Waiting longer than the target at the end.")
    decision_target_seconds: int
    subscriptions: int = Field(description="The agency's approved subscriptions.")
    lag_records: int = Field(
        description="Records published to them not yet acknowledged (feeds) or delivered "
        "(webhooks), when the scorecard was computed."
    )
    webhook_attempts: int
    webhook_failures: int
    webhook_dead: int
    warnings_assigned: int = Field(description="Warnings raised in the period for the agency.")
    warnings_followed_up: int = Field(description="Of those, resolved since.")
    follow_up_rate: float | None
    score: float | None


class Grade(BaseModel):
    score: float | None = Field(description="Weighted mean of the dimensions' scores (0-100).")
    letter: Literal["A", "B", "C", "D", "E"] | None
    change: float | None = Field(description="Against the previous month (month rows only).")
    weights: dict[str, float]


class Scorecard(BaseModel):
    agency: str
    topic: str | None = Field(description="null: the agency's scorecard over all its topics.")
    period: Period
    grade: Grade
    timeliness: Timeliness
    validity: Validity
    uniqueness: Uniqueness
    consistency: Consistency
    completeness: Completeness
    responsiveness: Responsiveness | None = Field(
        description="The agency's own conduct: on agency scorecards only."
    )


class ScorecardClose(BaseModel):
    as_of: Moment | None = Field(
        None,
        description="ISO 8601 date-time; in simulation mode the exchange's business clock "
        "moves there first. Default: now.",
    )


class ScorecardsClosed(BaseModel):
    months: list[str] = Field(description="The months published now, `YYYY-MM`.")
    scorecards: int = Field(description="Records published to hub_scorecards.")
