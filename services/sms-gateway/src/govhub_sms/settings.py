from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from govhub_common.settings import CommonSettings


class ProviderSettings(BaseModel):
    """One provider in GOVHUB_SMS_PROVIDERS (a JSON list, tried in order for failover)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    kind: Literal["log", "smpp"]
    # log
    path: Path | None = Field(None, description="JSONL file; default $GOVHUB_HOME/sms/outbox.jsonl")
    # smpp
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    source_addr: str = Field("", description="Our service number (e.g. 10690000...).")
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    window: int = Field(50, ge=1, description="submit_sm in flight at most.")
    submit_timeout_s: float = 10.0
    bind_timeout_s: float = 5.0
    bind_wait_s: float = 5.0
    receipt_id_format: Literal["auto", "same", "hex_dec", "dec_hex"] = "auto"
    orphan_grace_s: float = Field(
        30.0,
        gt=0,
        description="How long a receipt that matches no submit of this process waits for "
        "it before it is reported by the SMSC's id (and handset) alone.",
    )
    # both
    rate_per_s: float = Field(200.0, gt=0, description="Token bucket: messages per second.")
    burst: float = Field(50.0, ge=1)


class SmsSettings(CommonSettings):
    """Settings of the sms-gateway service (prefix GOVHUB_)."""

    sms_providers: list[ProviderSettings] = Field(
        default_factory=lambda: [ProviderSettings(name="log", kind="log")],
        description="Providers as a JSON list, in failover order.",
    )
    sms_allow_log_provider: bool = Field(
        False,
        description="Production only: allow a `log` provider, which writes messages to a file "
        "and counts them sent and delivered though no citizen receives anything. For a "
        "staging hub only.",
    )
    sms_quiet_hours_start: str | None = Field(
        "21:00", description="Asia/Shanghai; unset or empty disables quiet hours."
    )
    sms_quiet_hours_end: str | None = Field("08:00")
    sms_cap_per_day: int = Field(5, ge=1, description="Messages per recipient per day.")
    sms_cap_per_template_per_day: int = Field(
        1, ge=1, description="Messages of one template per recipient per day."
    )
    sms_notification_opt_out: bool = Field(
        False, description="Whether opt-outs also stop notification templates by default."
    )
    sms_batch_size: int = Field(200, ge=1, description="Messages claimed per sending round.")
    sms_sender_concurrency: int = Field(
        2, ge=1, description="Sending rounds in flight at once (claim/record overlap submits)."
    )
    sms_claim_lease_seconds: float = Field(
        30.0,
        ge=1.0,
        description="How long a sender's claim on a message lasts; a live sender renews it "
        "every third of it while the submit is in flight, so only a claim whose sender died "
        "expires. An expired claim is reconciled by the next round of any replica.",
    )
    sms_poll_seconds: float = Field(0.5, gt=0, description="Sender poll interval.")
    sms_sender_enabled: bool = Field(True, description="Run the background sender.")
    sms_retry_max_attempts: int = Field(
        4, ge=1, description="Submits per provider before failing over on retryable errors."
    )
    sms_retry_max_delay_seconds: float = Field(300.0, gt=0)
    sms_message_ttl_hours: float = Field(
        72.0, gt=0, description="Messages not sent within this time expire."
    )
    sms_failover_on_report: bool = Field(
        True, description="Resend through the next provider when a delivery report fails."
    )
    sms_hub_agency: str = Field(
        "gz-datacenter", description="The agency that owns messages made from bus reminders."
    )

    @model_validator(mode="after")
    def _refuse_log_provider_in_production(self) -> SmsSettings:
        # A `log` provider "delivers" every message: dashboards look healthy while no
        # citizen gets an SMS. Production needs a real carrier unless told otherwise.
        if self.environment != "production" or self.sms_allow_log_provider:
            return self
        logged = [p.name for p in self.sms_providers if p.kind == "log"]
        if logged:
            raise ValueError(
                f"production refuses the development `log` SMS provider ({', '.join(logged)}): "
                "set GOVHUB_SMS_PROVIDERS to your SMSC (kind smpp, see docs/sms.md), or "
                "GOVHUB_SMS_ALLOW_LOG_PROVIDER=true for a staging hub"
            )
        return self
