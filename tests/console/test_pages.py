"""The console as a browser meets it: served at /console in the all-in-one hub with a
strict Content-Security-Policy and the security headers on every answer, no API pages, no
inline script or style in any template, the vendored htmx as published."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

from govhub_common.testing import Hub
from govhub_console.security import CONTENT_SECURITY_POLICY

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "console" / "src" / "govhub_console"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# htmx.org 2.0.11's dist/htmx.min.js as npm publishes it.
HTMX = "htmx-2.0.11.min.js"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def assert_secured(reply: httpx.Response) -> None:
    assert reply.headers["content-security-policy"] == CSP
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] in ("same-origin", "no-referrer")
    assert reply.headers["x-frame-options"] == "DENY"


async def test_the_sign_in_page_is_served_with_the_security_headers(
    client: httpx.AsyncClient,
) -> None:
    assert CONTENT_SECURITY_POLICY == CSP
    reply = await client.get("/console/login")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert_secured(reply)
    assert reply.headers["cache-control"] == "no-store"
    assert '<html lang="zh-CN">' in reply.text
    assert 'name="htmx-config"' in reply.text
    assert f'src="/console/static/{HTMX}"' in reply.text


async def test_errors_redirects_and_static_files_carry_the_headers_too(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/console/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert_secured(missing)
    redirect = await client.get("/console/")
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/console/login?next=/console/"
    assert_secured(redirect)
    for name in (HTMX, "console.css", "console.js"):
        reply = await client.get(f"/console/static/{name}")
        assert reply.status_code == 200, name
        assert_secured(reply)
    assert (await client.get("/console/static/../app.py")).status_code == 404


async def test_the_console_publishes_no_api_documents(hub: Hub, client: httpx.AsyncClient) -> None:
    for path in ("/console/docs", "/console/openapi.json", "/console/redoc"):
        assert (await client.get(path)).status_code == 404, path
    services = (await hub.client.get("/")).json()["services"]
    assert services["console"] == {"prefix": "/console"}
    assert "openapi" in services["exchange"]


async def test_the_vendored_htmx_is_the_published_file(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/console/static/{HTMX}")).content
    assert hashlib.sha256(body).hexdigest() == HTMX_SHA256
    assert (
        (PACKAGE / "static" / "htmx-2.0.11.LICENSE.txt").read_text().startswith("Zero-Clause BSD")
    )


INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.IGNORECASE | re.DOTALL)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)


def test_no_template_has_inline_script_or_style() -> None:
    """The CSP forbids them; a template that had one would break in the browser."""
    templates = sorted(PACKAGE.glob("**/templates/**/*.html"))
    assert len(templates) >= 4
    for template in templates:
        text = template.read_text(encoding="utf-8")
        assert not INLINE_HANDLER.search(text), template
        assert not STYLE_ATTRIBUTE.search(text), template
        assert not STYLE_ELEMENT.search(text), template
        for attributes, body in SCRIPT.findall(text):
            assert "src=" in attributes and not body.strip(), template
