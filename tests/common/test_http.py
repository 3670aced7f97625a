"""Identity, problem+json and metrics through the running all-in-one hub."""

import time
from types import SimpleNamespace

import httpx
import jwt
from fastapi import FastAPI
from pydantic import BaseModel

from govhub_common.problems import install_problem_handlers
from govhub_common.security import (
    Principal,
    TokenVerifier,
    generate_key_pair,
    require_scope,
)
from govhub_common.testing import Hub

PREFIXES = ["/registry", "/exchange", "/alerting", "/sms"]


async def test_every_service_serves_its_openapi_document_under_its_prefix(hub: Hub) -> None:
    for prefix in PREFIXES:
        reply = await hub.client.get(f"{prefix}/openapi.json")
        assert reply.status_code == 200, prefix
        assert reply.json()["info"]["title"].startswith("govhub")
        docs = await hub.client.get(f"{prefix}/docs")
        assert f"{prefix}/openapi.json" in docs.text


async def test_health_and_readiness(hub: Hub) -> None:
    assert (await hub.client.get("/healthz")).json() == {"status": "ok"}
    ready = await hub.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert (await hub.client.get("/exchange/readyz")).status_code == 200


async def test_a_missing_token_is_401_problem_json(hub: Hub) -> None:
    reply = await hub.client.get("/exchange/v1/whoami")
    assert reply.status_code == 401
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == "unauthorized"
    assert reply.headers["www-authenticate"].startswith("Bearer")


async def test_a_valid_token_names_the_agency(hub: Hub) -> None:
    reply = await hub.client.get("/registry/v1/whoami", headers=hub.auth("gz-tax", "registry:read"))
    assert reply.status_code == 200
    assert reply.json() == {"agency": "gz-tax", "scopes": ["registry:read"]}


async def test_expired_and_foreign_tokens_are_refused(hub: Hub) -> None:
    expired = hub.token("gz-tax", ["registry:read"], ttl_seconds=-60)
    reply = await hub.client.get(
        "/registry/v1/whoami", headers={"Authorization": f"Bearer {expired}"}
    )
    assert reply.status_code == 401
    assert "expired" in reply.json()["detail"]

    stranger = generate_key_pair()
    forged = jwt.encode(
        {
            "sub": "gz-tax",
            "scope": "operator",
            "iss": "govhub",
            "aud": "govhub",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        stranger.private_pem,
        algorithm="RS256",
    )
    reply = await hub.client.get(
        "/registry/v1/whoami", headers={"Authorization": f"Bearer {forged}"}
    )
    assert reply.status_code == 401
    assert reply.headers["content-type"] == "application/problem+json"


async def test_metrics_count_requests_by_route_template_and_service(hub: Hub) -> None:
    await hub.client.get("/exchange/healthz")
    text = (await hub.client.get("/metrics")).text
    assert (
        'govhub_http_requests_total{method="GET",route="/exchange/healthz",service="exchange",status="200"}'
        in text
    )
    assert "govhub_http_request_duration_seconds_bucket" in text


class Item(BaseModel):
    code: str
    amount: int


def scoped_app() -> FastAPI:
    """A small app with the same dependencies the services use, to test scopes and errors."""
    keys = generate_key_pair()
    app = FastAPI()
    app.state.runtime = SimpleNamespace(
        verifier=TokenVerifier(keys, issuer="govhub", audience="govhub")
    )
    app.state.keys = keys
    install_problem_handlers(app)
    from typing import Annotated

    from fastapi import Depends

    @app.post("/items")
    async def create(
        items: list[Item], who: Annotated[Principal, Depends(require_scope("items:write"))]
    ) -> dict[str, int]:
        return {"count": len(items)}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals 11010519491231002X")

    return app


def token_for(app: FastAPI, scopes: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "sub": "gz-aic",
        "scope": scopes,
        "iss": "govhub",
        "aud": "govhub",
        "iat": now,
        "exp": now + 60,
    }
    return {
        "Authorization": "Bearer "
        + jwt.encode(claims, app.state.keys.private_pem, algorithm="RS256")
    }


async def test_wrong_scope_is_403_and_validation_names_the_json_path() -> None:
    app = scoped_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        wrong = await client.post("/items", json=[], headers=token_for(app, "items:read"))
        assert wrong.status_code == 403
        assert wrong.json()["code"] == "insufficient_scope"

        bad = await client.post(
            "/items",
            json=[{"code": "a", "amount": 1}, {"code": "b", "amount": "many"}],
            headers=token_for(app, "items:write"),
        )
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert [e["path"] for e in bad.json()["errors"]] == ["$[1].amount"]

        ok = await client.post(
            "/items", json=[{"code": "a", "amount": 1}], headers=token_for(app, "items:write")
        )
        assert ok.json() == {"count": 1}


async def test_an_unhandled_error_is_a_problem_without_internals() -> None:
    app = scoped_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        reply = await client.get("/boom")
    assert reply.status_code == 500
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == "internal_error"
    assert "secret" not in reply.text


async def test_events_status_says_when_a_service_has_caught_up(hub: Hub) -> None:
    assert (
        await hub.client.get(
            "/registry/v1/events/status", headers=hub.auth("gz-tax", "registry:read")
        )
    ).status_code == 403
    await hub.settle()
    for prefix in PREFIXES:
        status = (await hub.client.get(f"{prefix}/v1/events/status", headers=hub.operator())).json()
        assert status["outbox_pending"] == 0
        assert status["idle"] is True


async def test_metrics_label_routes_by_template_never_by_identifier(hub: Hub) -> None:
    await hub.client.get("/registry/v1/persons/11010519491231002X")
    text = (await hub.client.get("/metrics")).text
    assert "11010519491231002X" not in text
    assert 'route="/registry/v1/persons/{id_number}"' in text
