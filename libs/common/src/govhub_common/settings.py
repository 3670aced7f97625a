"""Settings shared by every service; each service extends CommonSettings.

Only this module (and its subclasses in the services) reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOVHUB_", extra="ignore", env_file=None)

    environment: Environment = Field(
        "development",
        description="development allows generated keys and the embedded database; "
        "production refuses insecure defaults.",
    )
    home: Path = Field(Path(".govhub"), description="Data folder: embedded PostgreSQL, dev keys.")
    city_files: Path | None = Field(
        None,
        description="A city's files (a folder or one file, docs/city.md) each service reads "
        "its own kinds from at every start: the registry its RegistryMapping documents, "
        "alerting its AlertRule documents, the SMS gateway its SmsTemplate documents. What "
        "an operator changed through the API since is left alone (the API wins). Agencies, "
        "clients, topics and subscriptions are applied with `govhub apply`. Unset: the hub "
        "starts with no city's configuration.",
    )
    database_url: str | None = Field(
        None,
        description="PostgreSQL URL. Unset: an embedded PostgreSQL under GOVHUB_HOME. A "
        "superuser URL (embedded, development, CI) only migrates and keeps the role "
        "GOVHUB_DATABASE_APP_ROLE, as which the hub then connects; any other role is the "
        "hub's own (docs/deployment.md, Database roles).",
    )
    database_migration_url: str | None = Field(
        None,
        description="PostgreSQL URL of the role that owns the schemas: it migrates and grants "
        "GOVHUB_DATABASE_URL's role its rights, which then may not be a superuser.",
    )
    migrate_on_start: bool = Field(
        True,
        description="Migrate and grant at every start. false: a migration job has done both "
        "(`govhub migrate` with GOVHUB_DATABASE_MIGRATION_URL), so the process holds only "
        "GOVHUB_DATABASE_URL, the application's own role (never a superuser).",
    )
    database_app_role: str = Field(
        "govhub_app",
        min_length=1,
        max_length=63,
        description="The application's login role, kept by a superuser GOVHUB_DATABASE_URL "
        "(never a superuser, never owner of the audit tables).",
    )
    database_app_password: SecretStr | None = Field(
        None,
        description="Password of GOVHUB_DATABASE_APP_ROLE. Unset: generated once into "
        "GOVHUB_HOME/database-app-password (0600).",
    )
    amqp_url: str | None = Field(
        None, description="RabbitMQ URL. Unset (all-in-one only): events travel in-process."
    )
    amqp_exchange: str = Field("govhub.events", description="The topic exchange for events.")
    amqp_queue_prefix: str = Field(
        "", description="Prefix of every queue name (to share one vhost between hubs)."
    )
    amqp_delete_queues_at_stop: bool = Field(
        False,
        description="Delete this hub's queues when it stops: for benchmarks and throwaway "
        "hubs on a shared broker, never in production (events sent meanwhile would be lost).",
    )
    bus_prefetch: int = Field(32, ge=1, description="Unacknowledged events per consumer.")
    bus_delivery_limit: int = Field(
        5,
        ge=1,
        description="Times a consumer tries an event again after its handler failed (with "
        "backoff) before it parks the event in the dead-letter queue. Transient faults "
        "(database unreachable, deadlocks, timeouts) are waited out and do not count.",
    )
    bus_crash_delivery_limit: int = Field(
        20,
        ge=1,
        description="RabbitMQ: deliveries the quorum queue allows before it dead-letters an "
        "event by itself. Only consumers that stopped holding the event (crashes, lost "
        "connections) count here, so this is the backstop against an event that kills its "
        "consumer; each such stop charges every event the consumer held (the prefetch). "
        "Fixed when a queue is first declared.",
    )
    bus_retry_delay_seconds: float = Field(
        0.2, gt=0, description="First pause before a failed event is tried again (doubles)."
    )
    bus_dead_letter_poll_seconds: float = Field(
        15.0, gt=0, description="How often the dead-letter queues' depth is read for metrics."
    )
    outbox_poll_seconds: float = Field(0.2, gt=0, description="Outbox relay poll interval.")
    outbox_batch_size: int = Field(200, ge=1, description="Outbox rows published per round.")
    jwt_private_key_file: Path | None = Field(
        None, description="PEM RSA private key that signs tokens (exchange only)."
    )
    jwt_public_key_file: Path | None = Field(
        None, description="PEM public key that verifies tokens (every service)."
    )
    jwt_issuer: str = Field("govhub", description="iss claim of issued tokens.")
    jwt_audience: str = Field("govhub", description="aud claim required in tokens.")
    log_level: str = Field("INFO", description="Root log level.")
    log_format: Literal["json", "text"] = Field("json", description="Log line format.")
    mask_uscc: bool = Field(False, description="Also mask USCCs in log lines.")
    db_pool_size: int = Field(10, ge=1, description="Connections per process pool.")
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body of any operation without a limit of its own "
        "(publish: GOVHUB_PUBLISH_MAX_BYTES); a larger one is refused with 413 before it is "
        "read, parsed or its token checked.",
    )
    revocation_refresh_seconds: float = Field(
        1.0,
        gt=0,
        description="How often each process reloads the token revocations its services "
        "stored (a revoked token is refused on every replica within about this, once the "
        "event has reached one of them).",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port of its own (Prometheus scrapes it; no "
        "token), and answer 404 for /metrics on the API port, which an Ingress or a load "
        "balancer may expose. Unset: /metrics on the API port.",
    )
    metrics_host: str | None = Field(
        None, description="Interface of the metrics port; unset: the API's (`--host`)."
    )
    simulate: bool = Field(
        False,
        description="Simulation mode (`govhub run --simulate`): no scheduler follows the wall "
        "clock (alerting's sweep, the SMS sender's rounds and quiet hours wait for "
        '`POST /alerting/v1/evaluate` and `POST /sms/v1/dispatch` "as of" a time), and the '
        "hub stamps warnings, cases and messages with the business time the simulation "
        "drives it to (docs/operations.md, Simulating and replaying). Never in production.",
    )
    service_name: str = Field("govhub", description="CloudEvents source and metrics label.")
    worker_target: str = Field(
        "all", description="Internal: the target each `govhub run --workers N` process hosts."
    )
    operator_bootstrap_secret: SecretStr | None = Field(
        None,
        description="Secret of the built-in operator client `operator`. Unset in development: "
        "generated under GOVHUB_HOME. The exchange refuses to start in production without it "
        "(see allow_generated_operator_secret).",
    )
    allow_generated_operator_secret: bool = Field(
        False,
        description="Production only: let the exchange generate the operator secret under "
        "GOVHUB_HOME when GOVHUB_OPERATOR_BOOTSTRAP_SECRET is unset. The secret then lives "
        "and dies with that folder: each replica with its own folder (an emptyDir) makes "
        "its own at start and overwrites the others', so it changes on every restart and "
        "scale-up. For a throwaway hub with one replica on persistent storage only.",
    )

    # The console (services/console) and the exchange both read these: the exchange keeps
    # the console's client and checks the people it vouches for.
    console_client_secret: SecretStr | None = Field(
        None,
        description="Secret of the console's OAuth client `console`, with which the console "
        "exchanges a signed-in person's identity for their access token (RFC 8693). The "
        "exchange and the console must be given the same one. Unset in development: generated "
        "once under GOVHUB_HOME/console-client-secret (0600). Production requires it (at "
        "least 24 characters). Changing it signs every person out.",
    )
    console_local_accounts: bool = Field(
        True,
        description="People may sign in to the console with local accounts that operators "
        "manage (`govhub console account add`), for development and small deployments. "
        "false: only through the city's identity provider (GOVHUB_CONSOLE_OIDC_ISSUER).",
    )
    console_oidc_issuer: str | None = Field(
        None,
        description="The city's OpenID Connect provider (its issuer URL, where "
        "/.well-known/openid-configuration is found). Unset: no single sign-on.",
    )
    console_oidc_client_id: str = Field(
        "govhub-console",
        description="The console's client id at the identity provider: the audience of the "
        "ID tokens the exchange accepts.",
    )
    console_oidc_agency_claim: str = Field(
        "govhub_agency",
        description="The ID token claim holding the person's agency code (a dotted path "
        "reaches into objects, e.g. `attributes.agency`).",
    )
    console_oidc_role_claim: str = Field(
        "realm_access.roles",
        description="The ID token claim holding the person's roles (Keycloak's realm roles by "
        "default; a list or one string): the first of case_officer, data_steward, operator "
        "found in it is the person's role.",
    )
    console_oidc_name_claim: str = Field(
        "name", description="The ID token claim holding the person's display name."
    )
    console_session_max_seconds: int = Field(
        8 * 3600,
        ge=60,
        description="A person's sign-in lasts at most this long from the moment they "
        "authenticated; then they sign in again (person tokens are not renewed beyond it).",
    )

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> CommonSettings:
        if self.environment != "production":
            return self
        missing = []
        if not self.database_url:
            missing.append("GOVHUB_DATABASE_URL")
        if not self.jwt_public_key_file:
            missing.append("GOVHUB_JWT_PUBLIC_KEY_FILE")
        if missing:
            raise ValueError("production refuses development defaults; set " + ", ".join(missing))
        if self.amqp_delete_queues_at_stop:
            raise ValueError("production refuses GOVHUB_AMQP_DELETE_QUEUES_AT_STOP")
        if self.simulate:
            # Its clock is driven by whoever calls evaluate/dispatch: never a real city's.
            raise ValueError("production refuses GOVHUB_SIMULATE")
        secret = self.operator_bootstrap_secret
        if secret is not None and len(secret.get_secret_value()) < 24:
            raise ValueError("GOVHUB_OPERATOR_BOOTSTRAP_SECRET must be at least 24 characters")
        console = self.console_client_secret
        if console is not None and len(console.get_secret_value()) < 24:
            raise ValueError("GOVHUB_CONSOLE_CLIENT_SECRET must be at least 24 characters")
        if self.console_oidc_issuer and not self.console_oidc_issuer.startswith("https://"):
            raise ValueError("production refuses an identity provider not served over https")
        return self

    @property
    def is_development(self) -> bool:
        return self.environment != "production"


S = TypeVar("S", bound=CommonSettings)


@lru_cache
def get_settings(cls: type[S] = CommonSettings) -> S:  # type: ignore[assignment]
    """One settings object per class per process."""
    return cls()
