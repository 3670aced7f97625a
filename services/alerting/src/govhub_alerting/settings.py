from __future__ import annotations

from pydantic import Field

from govhub_common.settings import CommonSettings


class AlertingSettings(CommonSettings):
    """Settings of the alerting service (prefix GOVHUB_)."""

    alerting_sweep_interval_seconds: float = Field(
        60.0,
        ge=0,
        description="How often due timers are fired as of now(); 0 disables the scheduler "
        "(a simulation then drives time through POST /alerting/v1/evaluate).",
    )
    alerting_sweep_batch_size: int = Field(
        5000, ge=1, description="Timers fired per transaction by the sweep."
    )
    alerting_sweep_workers: int = Field(
        2,
        ge=1,
        le=16,
        description="Concurrent batches per sweep (they share timers like replicas).",
    )
    alerting_registry_attributes: list[str] = Field(
        default_factory=lambda: ["mobile"],
        description="Registry attributes alerting keeps a projection of, from "
        "registry.legal_entity.changed / registry.person.changed, so a reminder can be sent "
        "to the subject's current mobile (recipient: {registry_attribute: mobile}).",
    )
    alerting_record_retention_days: int = Field(
        400,
        ge=0,
        description="Days every exchange record alerting receives is kept (in alerting.records) "
        "so a new or changed rule can be dry-run and backfilled over any topic; 0 keeps them "
        "for ever.",
    )

    @property
    def contact_attributes(self) -> tuple[str, ...]:
        return tuple(self.alerting_registry_attributes)
