from __future__ import annotations

from govhub_common.settings import CommonSettings


class RegistrySettings(CommonSettings):
    """Settings of the registry service (prefix GOVHUB_)."""
