from __future__ import annotations

from govhub_common.settings import CommonSettings


class AlertingSettings(CommonSettings):
    """Settings of the alerting service (prefix GOVHUB_)."""
