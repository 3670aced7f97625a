from __future__ import annotations

from govhub_common.settings import CommonSettings


class SmsSettings(CommonSettings):
    """Settings of the sms-gateway service (prefix GOVHUB_)."""
