"""A person signs in to the console through the city's identity provider in a real browser
(Chromium, strict CSP watched by the `page` fixture) and signs out again, at the provider
too. The hub runs as a process of its own (`govhub run`), told the provider by its
environment; the provider is the real mock (oidc-provider-mock) on localhost, another site
than the console's 127.0.0.1, as a city's provider is."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Page, Route, expect

from govhub_common.testing import HubProcess
from tests.console.auth.oidc_support import RecordingProvider, running_provider

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def idp() -> Iterator[RecordingProvider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture
async def sso_hub(fresh_db_url: str, idp: RecordingProvider) -> AsyncIterator[HubProcess]:
    hub = HubProcess(
        fresh_db_url,
        env={
            "GOVHUB_CONSOLE_OIDC_ISSUER": idp.url,
            "GOVHUB_CONSOLE_OIDC_CLIENT_SECRET": "the-consoles-secret-at-the-provider",
        },
    )
    try:
        await hub.start()
        yield hub
    finally:
        await hub.stop()


async def _no_cdn(route: Route) -> None:
    # The mock's pages load a stylesheet from a CDN this machine cannot reach.
    await route.fulfill(status=200, content_type="text/css", body="")


async def test_a_person_signs_in_and_out_with_the_city_account(
    page: Page, sso_hub: HubProcess, idp: RecordingProvider
) -> None:
    operator = await sso_hub.token("operator", sso_hub.operator_secret())
    agency, sub = f"t-sso-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=sso_hub.url) as api:
        made = await api.post(
            "/exchange/v1/agencies",
            json={"code": agency, "name": "广州市社会保险基金管理局"},
            headers={"Authorization": f"Bearer {operator}"},
        )
        assert made.status_code == 201, made.text
    async with httpx.AsyncClient(base_url=idp.url) as provider:
        claims = {
            "name": "黄晓燕",
            "govhub_agency": agency,
            "realm_access": {"roles": ["case_officer"]},
        }
        assert (await provider.put(f"/users/{sub}", json=claims)).status_code == 204
    await page.route("https://cdn.jsdelivr.net/**", _no_cdn)
    # The console in Chinese whatever the browser's language (the choice a person makes).
    await page.context.add_cookies(
        [{"name": "govhub-console-locale", "value": "zh-CN", "url": sso_hub.url}]
    )

    await page.goto(f"{sso_hub.url}/console/")
    await expect(page.get_by_role("heading", name="登录", exact=True)).to_be_visible()
    await page.get_by_role("link", name="使用城市统一身份认证登录").click()

    # The provider's own page.
    await expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    await page.get_by_placeholder("sub").fill(sub)
    await page.get_by_role("button", name="Authorize").click()

    # Back in the console, signed in as the provider's person, of their agency and role.
    await expect(page).to_have_url(f"{sso_hub.url}/console/")
    await expect(page.get_by_text("黄晓燕").first).to_be_visible()
    menu = page.get_by_role("navigation")
    await expect(menu.get_by_role("link", name="预警", exact=True)).to_be_visible()

    # Signing out ends the sign-in at the provider too, and comes back to the console.
    await page.get_by_role("button", name="退出登录").click()
    await expect(page.get_by_role("button", name="End session")).to_be_visible()
    assert "id_token_hint=" in page.url
    await page.get_by_role("button", name="End session").click()
    await expect(page).to_have_url(re.compile(re.escape(f"{sso_hub.url}/console/login")))
    await page.goto(f"{sso_hub.url}/console/")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
