from __future__ import annotations

from pathlib import Path

from pydantic import Field

from govhub_common.settings import CommonSettings


class AlertingSettings(CommonSettings):
    """Settings of the alerting service (prefix GOVHUB_)."""

    alerting_rules_dir: Path | None = Field(
        None,
        description="A folder of rule YAML files loaded at start-up, besides the default rules.",
    )
    alerting_sweep_interval_seconds: float = Field(
        60.0,
        ge=0,
        description="How often due timers are fired as of now(); 0 disables the scheduler "
        "(a simulation then drives time through POST /alerting/v1/evaluate).",
    )
    alerting_sweep_batch_size: int = Field(
        5000, ge=1, description="Timers fired per transaction by the sweep."
    )
    exchange_url: str | None = Field(
        None,
        description="Base URL of the exchange service; when set, rules are validated against "
        "its live catalog (GET /exchange/v1/topics/{code}).",
    )
