"""HTTP methods as RFC 9110 has them: OPTIONS answers with the path's `Allow`, and a 405
names every method the path takes (Starlette keeps one route per method, and its 405
names only the first route's)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the app's routes take at `path`, and OPTIONS."""
    from fastapi import routing

    methods: set[str] = set()
    for context in routing.iter_route_contexts(app.routes):
        route: Any = getattr(context, "route", context)
        regex = getattr(context, "path_regex", None) or getattr(route, "path_regex", None)
        route_methods = getattr(context, "methods", None) or getattr(route, "methods", None)
        if regex is None or not route_methods or not regex.match(path):
            continue
        if set(route_methods) == {"OPTIONS"}:
            continue  # the catch-all below, not a resource's own method
        methods |= set(route_methods)
    if not methods:
        return []
    methods.add("OPTIONS")
    return sorted(methods)


def route_path(request: Request) -> str:
    """The request's path as the app's routes see it (below its mount)."""
    from starlette._utils import get_route_path

    return get_route_path(request.scope)


def install_options(app: FastAPI) -> None:
    """`OPTIONS` on any path of the app: 204 with `Allow` (404 where no route is)."""

    @app.options("/{path:path}", include_in_schema=False)
    async def options(request: Request, path: str) -> Response:
        allowed = allowed_methods(app, "/" + path)
        if not allowed:
            from govhub_common.problems import not_found

            raise not_found("path", "/" + path)
        return Response(status_code=204, headers={"Allow": ", ".join(allowed)})
