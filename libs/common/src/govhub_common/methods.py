"""HTTP methods as RFC 9110 has them: OPTIONS answers with the path's `Allow`, and a 405
names every method the path takes (Starlette keeps one route per method, and its 405
names only the first route's)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of the path template `path` belongs to, and OPTIONS: what the OpenAPI
    document lists for that path. Of the templates that match, the most specific (fewest
    parameters) is the path's: `/v1/messages/batch` is the batch path, not a message id."""
    from fastapi import routing

    templates: dict[str, set[str]] = {}
    matching: list[str] = []
    for context in routing.iter_route_contexts(app.routes):
        regex = getattr(context, "path_regex", None)
        template = getattr(context, "path_format", None)
        methods = getattr(context, "methods", None)
        if regex is None or template is None or not methods or set(methods) == {"OPTIONS"}:
            continue  # not a resource's route (the OPTIONS catch-all below)
        templates.setdefault(template, set()).update(methods)
        if regex.match(path):
            matching.append(template)
    if not matching:
        return []
    chosen = min(matching, key=lambda template: template.count("{"))
    return sorted(templates[chosen] | {"OPTIONS"})


def route_path(request: Request) -> str:
    """The request's path as the app's routes see it (below its mount)."""
    from starlette._utils import get_route_path

    return get_route_path(request.scope)


class OptionsMiddleware:
    """`OPTIONS` on a path the app serves: 204 with `Allow`. Anything else, and paths the
    app does not serve, go on as they came (a route would answer 405 on every other
    method of every unknown path)."""

    def __init__(self, app: ASGIApp, *, routes_of: FastAPI) -> None:
        self.app = app
        self.routes_of = routes_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            from starlette._utils import get_route_path

            allowed = allowed_methods(self.routes_of, get_route_path(scope))
            if allowed:
                response = Response(status_code=204, headers={"Allow": ", ".join(allowed)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_options(app: FastAPI) -> None:
    """Answer OPTIONS on the app's paths (see OptionsMiddleware)."""
    app.add_middleware(OptionsMiddleware, routes_of=app)
