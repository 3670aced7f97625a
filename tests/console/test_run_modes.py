"""The console in both run modes: all-in-one it calls the services in-process; run apart
(split mode) it needs GOVHUB_CONSOLE_HUB_URL and reaches each service at its own address."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from govhub_common.hub_urls import async_hub_client
from govhub_common.runtime import ConfigurationError, create_app
from govhub_common.settings import CommonSettings

SPLIT = CommonSettings(amqp_url="amqp://guest:guest@127.0.0.1:5672/")


def test_a_console_apart_from_the_services_needs_their_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOVHUB_CONSOLE_HUB_URL", raising=False)
    with pytest.raises(ConfigurationError, match="GOVHUB_CONSOLE_HUB_URL"):
        create_app("console", database_url="postgresql://unused@127.0.0.1/unused", settings=SPLIT)
    monkeypatch.setenv("GOVHUB_CONSOLE_HUB_URL", "https://hub.example.gov.cn")
    app = create_app("console", database_url="postgresql://unused@127.0.0.1/unused", settings=SPLIT)
    assert set(app.state.runtime.services) == {"console"}


class Echo(BaseHTTPRequestHandler):
    """Answers with the name of the server and the path it was asked for."""

    def do_GET(self) -> None:
        body = f"{self.server.name} {self.path} {self.headers.get('Authorization')}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    started, urls = [], {}
    for name in ("exchange", "alerting"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        urls[name] = f"http://127.0.0.1:{server.server_address[1]}"
    yield urls
    for server in started:
        server.shutdown()
        server.server_close()


async def test_each_prefix_goes_to_its_own_service(servers: dict[str, str]) -> None:
    url = f"/exchange={servers['exchange']},/alerting={servers['alerting']}"
    async with async_hub_client(url, headers={"Authorization": "Bearer t"}) as client:
        assert (
            await client.get("/exchange/v1/whoami")
        ).text == "exchange /exchange/v1/whoami Bearer t"
        assert (await client.get("/alerting/v1/warnings")).text == (
            "alerting /alerting/v1/warnings Bearer t"
        )
        with pytest.raises(Exception, match="no base URL for /registry"):
            await client.get("/registry/v1/persons")
