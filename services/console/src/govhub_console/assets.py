"""The console's own static files (htmx, its style sheet and script): served from the
package, by name only, so that the Content-Security-Policy's 'self' is all a page needs."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from govhub_console.pages import console_state

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}


@router.get("/static/{name}")
async def static_file(request: Request, name: str) -> Response:
    body = console_state(request).static.get(name)
    if body is None:
        raise HTTPException(404)
    media_type = MEDIA_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
    # A vendored file's name carries its version (htmx-2.0.11.min.js): it never changes.
    # The console's own may change at an upgrade: revalidated.
    cache = "public, max-age=31536000, immutable" if name.startswith("htmx-") else "no-cache"
    return Response(body, media_type=media_type, headers={"Cache-Control": cache})
