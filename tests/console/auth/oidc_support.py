"""The city's identity provider for the console's tests: the real mock provider
(oidc-provider-mock, an authlib server) in a thread, behind a WSGI wrapper that records what
the console sent it (the mock checks no PKCE, so the tests check it from the records) and
can alter an authorization request's nonce, as a provider answering for another sign-in
would."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import werkzeug.serving


def _single(values: dict[str, list[str]]) -> dict[str, str]:
    return {name: items[0] for name, items in values.items()}


@dataclass
class RecordingProvider:
    """The mock's WSGI app, recording the authorization and token requests."""

    app: Any
    url: str = ""
    authorize: list[dict[str, str]] = field(default_factory=list)  # the browser's GETs
    token: list[dict[str, str]] = field(default_factory=list)  # form + Authorization
    tamper_nonce: bool = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/oauth2/authorize":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            if method == "GET":
                self.authorize.append(_single(query))
            elif self.tamper_nonce and "nonce" in query:
                # The code is issued on the form's POST, with the nonce of its query.
                query["nonce"] = ["a-nonce-of-another-sign-in"]
                environ["QUERY_STRING"] = urlencode(query, doseq=True)
        elif path == "/oauth2/token":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            form = _single(parse_qs(body.decode()))
            self.token.append({**form, "authorization": environ.get("HTTP_AUTHORIZATION", "")})
        result: Iterable[bytes] = self.app(environ, start_response)
        return result

    def reset(self) -> None:
        self.authorize.clear()
        self.token.clear()
        self.tamper_nonce = False


@contextmanager
def running_provider() -> Iterator[RecordingProvider]:
    """The provider on a free port of localhost (its issuer is the host it is asked on)."""
    from oidc_provider_mock import app as provider_app

    # The mock (an authlib server) speaks OAuth over plain http only when told so.
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    recorder = RecordingProvider(provider_app())
    server = werkzeug.serving.make_server("localhost", 0, recorder, threaded=True)
    recorder.url = f"http://localhost:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
