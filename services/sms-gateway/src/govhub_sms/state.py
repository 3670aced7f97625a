"""What one SMS gateway process keeps: made with its context (ServiceSpec.state) and filled
at its start, when the providers are bound; one typed object instead of a dict of names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from govhub_common.runtime import ServiceContext

if TYPE_CHECKING:
    from govhub_sms.sending.claims import SubmitJournal
    from govhub_sms.sending.gateway import Gateway


@dataclass
class SmsState:
    gateway: Gateway | None = None  # the providers, once started (None after the stop)
    journal: SubmitJournal = field(init=False)  # this process's claims (sending/claims.py)


def make_state(ctx: ServiceContext) -> SmsState:
    return SmsState()


def sms_state(ctx: ServiceContext) -> SmsState:
    state: SmsState = ctx.state
    return state


def gateway_of(ctx: ServiceContext) -> Gateway:
    gateway = sms_state(ctx).gateway
    if gateway is None:
        raise RuntimeError("the SMS gateway's providers are not started")
    return gateway
