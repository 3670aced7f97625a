"""SMS providers: one interface (``base.Provider``), a log provider for development and
an SMPP 3.4 provider for a real SMSC."""

from govhub_sms.providers.base import (
    DeliveryReport,
    InboundMessage,
    OutboundMessage,
    Provider,
    ProviderError,
    RateLimiter,
    SubmitResult,
    mask_phone,
)

__all__ = [
    "DeliveryReport",
    "InboundMessage",
    "OutboundMessage",
    "Provider",
    "ProviderError",
    "RateLimiter",
    "SubmitResult",
    "mask_phone",
]
