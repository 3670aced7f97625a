"""The SMS gateway's events (producer: govhub_sms)."""

from __future__ import annotations

from datetime import datetime

from govhub_common.event_contracts._base import Contract


class MessageStatus(Contract):
    id: str
    idempotency_key: str
    status: str
    reason: str | None
    changed_at: datetime
    template: str


class MessagesChanged(Contract):
    messages: list[MessageStatus]
