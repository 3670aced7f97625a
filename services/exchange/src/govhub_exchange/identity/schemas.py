from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from govhub_common.persons import ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from govhub_exchange.fields import AGENCY_CODE, CLIENT_ID, NO_NUL, Scope, Text

# An agency's contact: names and text (department, phone, e-mail...).
Contact = dict[
    Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)],
    Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)],
]
KNOWN_SCOPES = {
    "operator",
    "exchange:publish",
    "exchange:subscribe",
    "exchange:catalog",
    "exchange:clients",
    "registry:read",
    "alerting:read",
    "alerting:work",
    "sms:send",
}


class AgencyCreate(BaseModel):
    code: str = Field(pattern=AGENCY_CODE, max_length=64, examples=["gz-amr"])
    name: Text = Field(min_length=1, max_length=200, examples=["广州市工商行政管理局"])
    contact: Contact = Field(default_factory=dict)

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "code": "gz-tax",
                    "name": "国家税务总局广州市税务局",
                    "contact": {"name": "数据管理科", "phone": "020-12366"},
                }
            ]
        },
    }


class AgencyUpdate(BaseModel):
    name: Text | None = Field(None, min_length=1, max_length=200)
    contact: Contact | None = None
    disabled: StrictBool | None = None

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"name": "国家税务总局广州市税务局", "disabled": False}]
        },
    }


class AgencyPublic(BaseModel):
    code: str
    name: str
    contact: dict[str, Any]
    disabled: bool
    created_at: datetime


class ClientCreate(BaseModel):
    client_id: str | None = Field(None, pattern=CLIENT_ID)
    scopes: list[Scope] = Field(min_length=1)

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"client_id": "gz-tax-matching", "scopes": ["exchange:subscribe", "registry:read"]}
            ]
        },
    }


class ClientUpdate(BaseModel):
    disabled: StrictBool | None = None
    scopes: list[Scope] | None = None

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"scopes": ["exchange:subscribe"]}]},
    }


class ClientPublic(BaseModel):
    client_id: str
    agency: str
    scopes: list[str]
    disabled: bool
    created_at: datetime
    rotated_at: datetime | None


class ClientWithSecret(ClientPublic):
    client_secret: str = Field(description="Shown once; only its hash is stored.")


# ID tokens are 1-2 KB, a person's access token about as much: room to spare, not megabytes.
SUBJECT_TOKEN_MAX_CHARACTERS = 8192

TOKEN_REQUEST_EXAMPLE: dict[str, Any] = {
    "grant_type": "client_credentials",
    "scope": "exchange:subscribe",
    "client_id": "gz-tax-matching",
    "client_secret": "s3cr3t-shown-once",
}


TOKEN_EXCHANGE_EXAMPLE: dict[str, Any] = {
    "grant_type": TOKEN_EXCHANGE_GRANT,
    "subject_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtjLTEifQ.eyJzdWIiOiI4ZjE0ZTQ1ZiJ9.c2ln",
    "subject_token_type": ID_TOKEN_TYPE,
}


class TokenRequest(BaseModel):
    """The token request's form fields: client credentials (RFC 6749 section 4.4.2) or, for
    the console's client only, token exchange (RFC 8693 section 2.1). The client
    authenticates with HTTP Basic (preferred) or with `client_id` and `client_secret` here."""

    grant_type: Literal["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]
    scope: str | None = Field(
        None,
        description="Space-separated scopes; omitted: every scope of the client (client "
        "credentials) or of the person's role (token exchange).",
    )
    client_id: str | None = Field(None, description="Without HTTP Basic authentication.")
    client_secret: str | None = Field(None, description="Without HTTP Basic authentication.")
    subject_token: str | None = Field(
        None,
        max_length=SUBJECT_TOKEN_MAX_CHARACTERS,
        description="Token exchange: the signed-in person's identity, of the type below.",
    )
    subject_token_type: (
        Literal[
            "urn:ietf:params:oauth:token-type:id_token",
            "urn:govhub:params:oauth:token-type:local-person",
            "urn:ietf:params:oauth:token-type:access_token",
        ]
        | None
    ) = Field(
        None,
        description="Token exchange: `...:id_token`, an ID token of the city's identity "
        "provider (GOVHUB_CONSOLE_OIDC_ISSUER); `urn:govhub:...:local-person`, the console's "
        "HS256 assertion for a local account, signed with the console client's secret; "
        "`...:access_token`, a person's token from this endpoint, renewed while the sign-in "
        "lasts (GOVHUB_CONSOLE_SESSION_MAX_SECONDS from auth_time).",
    )
    requested_token_type: Literal["urn:ietf:params:oauth:token-type:access_token"] | None = Field(
        None, description="Token exchange: only an access token is issued."
    )

    model_config = {
        "json_schema_extra": {"examples": [TOKEN_REQUEST_EXAMPLE, TOKEN_EXCHANGE_EXAMPLE]}
    }


class TokenResponse(BaseModel):
    """An access token (RFC 6749 section 5.1)."""

    access_token: str = Field(description="A signed JWT; send as `Authorization: Bearer`.")
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds the token stays valid.")
    scope: str = Field(description="The granted scopes, space-separated.")
    issued_token_type: str | None = Field(
        None,
        description="Token exchange only (RFC 8693 section 2.2.1): "
        "`urn:ietf:params:oauth:token-type:access_token`. Absent for client credentials.",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "access_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6Imh1Yi0xIn0.eyJzdWIiOiJnei10YXgifQ.c2ln",
                    "token_type": "Bearer",
                    "expires_in": 900,
                    "scope": "exchange:subscribe",
                }
            ]
        }
    }


class Jwk(BaseModel):
    """One RSA public key (RFC 7517)."""

    kty: str = Field(examples=["RSA"])
    kid: str
    use: str = Field(examples=["sig"])
    alg: str = Field(examples=["RS256"])
    n: str = Field(description="The modulus, base64url.")
    e: str = Field(description="The public exponent, base64url.")

    model_config = {"extra": "allow"}


class Jwks(BaseModel):
    """The hub's public keys (RFC 7517 key set)."""

    keys: list[Jwk]
