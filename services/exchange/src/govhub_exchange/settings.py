from __future__ import annotations

from govhub_common.settings import CommonSettings


class ExchangeSettings(CommonSettings):
    """Settings of the exchange service (prefix GOVHUB_)."""
