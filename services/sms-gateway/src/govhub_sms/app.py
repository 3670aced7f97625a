"""The sms-gateway service as the runtime hosts it (entry point `govhub.services`)."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter

from govhub_common.runtime import ServiceContext
from govhub_common.service import ServiceSpec
from govhub_sms.consumers import reminder_consumer
from govhub_sms.settings import SmsSettings
from govhub_sms.state import make_state, sms_state

SCHEMA = "sms"
log = logging.getLogger("govhub.sms")


async def startup(ctx: ServiceContext) -> None:
    from datetime import timedelta

    from govhub_sms.sending.claims import SubmitJournal
    from govhub_sms.sending.gateway import build_gateway
    from govhub_sms.sending.sender import recover_at_startup
    from govhub_sms.templates.service import install_city_templates

    settings: SmsSettings = ctx.settings
    if settings.city_files is not None:
        async with ctx.db.session() as session:
            codes = await install_city_templates(
                session,
                path=settings.city_files,
                notification_opt_out=settings.sms_notification_opt_out,
            )
        log.info("sms: templates %s from %s", ", ".join(codes) or "none", settings.city_files)
    state = sms_state(ctx)
    gateway = build_gateway(settings)
    await gateway.start()
    state.gateway = gateway
    journal = state.journal = SubmitJournal(
        ctx.db, timedelta(seconds=settings.sms_claim_lease_seconds)
    )
    log.info(
        "sms: providers %s; claims as %s", ", ".join(s.name for s in gateway.slots), journal.owner
    )
    # Claims left by senders that died before this start (see sending/claims.py).
    await recover_at_startup(ctx)


async def shutdown(ctx: ServiceContext) -> None:
    state = sms_state(ctx)
    gateway, state.gateway = state.gateway, None
    if gateway is not None:
        await gateway.close()


async def sender(ctx: ServiceContext) -> None:
    from govhub_sms.sending.sender import run_sender

    # In simulation mode messages go out only when POST /v1/dispatch says what time it is
    # (quiet hours and schedules judged as of that time, never the wall clock's).
    if ctx.settings.sms_sender_enabled and not ctx.clock.simulated:
        await run_sender(ctx)


async def reports(ctx: ServiceContext) -> None:
    from govhub_sms.sending.reports import run_reports

    await run_reports(ctx)


def _routers() -> list[APIRouter]:
    from govhub_sms.messages.routes import router as messages
    from govhub_sms.optouts.routes import router as opt_outs
    from govhub_sms.templates.routes import router as templates

    return [messages, templates, opt_outs]


SERVICE = ServiceSpec(
    name="sms-gateway",
    prefix="/sms",
    schema=SCHEMA,
    title="SMS gateway",
    description="SMS templates, sending and delivery reports (短信服务).",
    version="0.1.0",
    migrations=Path(__file__).parent / "migrations",
    settings_class=SmsSettings,
    routers=_routers,
    consumers=lambda ctx: [reminder_consumer(ctx)],
    background=[sender, reports],
    state=make_state,
    startup=startup,
    shutdown=shutdown,
)
