"""Settings of the console (prefix GOVHUB_); the ones the exchange shares with it
(GOVHUB_CONSOLE_CLIENT_SECRET, GOVHUB_CONSOLE_LOCAL_ACCOUNTS, GOVHUB_CONSOLE_OIDC_*,
GOVHUB_CONSOLE_SESSION_MAX_SECONDS) are in CommonSettings."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from govhub_common.settings import CommonSettings


class ConsoleSettings(CommonSettings):
    console_hub_url: str | None = Field(
        None,
        description="Where the console reaches the other services' APIs when it runs apart "
        "from them (split mode): one base URL (an Ingress) or one per prefix, "
        "`/exchange=http://exchange:8000,/alerting=http://alerting:8000,...`. Unset: the "
        "process must host every service, and the console calls them in-process.",
    )
    console_public_url: str | None = Field(
        None,
        description="The console's address as browsers see it (e.g. "
        "https://hub.example.gov.cn/console): the only Origin its forms are accepted from. "
        "Unset: the Host the request names.",
    )
    console_cookie_secure: bool = Field(
        True,
        description="Session cookies are `Secure` and named with the `__Host-` prefix. false "
        "only for development over plain http on another host than localhost (browsers treat "
        "http://localhost as secure); production refuses it.",
    )
    console_oidc_client_secret: SecretStr | None = Field(
        None,
        description="The console's client secret at the city's identity provider "
        "(GOVHUB_CONSOLE_OIDC_ISSUER), sent with HTTP Basic at its token endpoint. Unset: "
        "the console is a public client, protected by PKCE alone.",
    )
    console_oidc_scopes: str = Field(
        "openid profile",
        description="The scopes the console asks the identity provider for (space-separated; "
        "`openid` is always sent). Add the ones that release the agency and role claims if "
        "the provider needs them.",
    )
    console_grafana_url: str | None = Field(
        None,
        description="Grafana's address as operators' browsers reach it (e.g. "
        "https://grafana.example.gov.cn): the events page links to the dashboards the chart "
        "ships. Unset: no links.",
    )
    console_session_idle_seconds: int = Field(
        1800, ge=60, description="A session unused for this long ends (sign in again)."
    )
    console_login_max_failures: int = Field(
        5, ge=1, description="Failed sign-ins in a row that lock a local account."
    )
    console_lockout_seconds: int = Field(
        900, ge=1, description="How long a locked local account refuses every sign-in."
    )

    @model_validator(mode="after")
    def _refuse_insecure_cookies(self) -> ConsoleSettings:
        if self.environment == "production" and not self.console_cookie_secure:
            raise ValueError("production refuses GOVHUB_CONSOLE_COOKIE_SECURE=false")
        return self
