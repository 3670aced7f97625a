from __future__ import annotations

from pathlib import Path

from pydantic import Field

from govhub_common.settings import CommonSettings


class RegistrySettings(CommonSettings):
    """Settings of the registry service (prefix GOVHUB_)."""

    registry_access_policy_file: Path | None = Field(
        None, description="Which agency sees which attributes (YAML); unset: the default."
    )
    registry_gauge_seconds: float = Field(
        15.0, gt=0, description="How often the conflict and review-queue gauges are refreshed."
    )
