"""Publishing records to a topic, and reading its quarantine."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from govhub_common.db import SessionDep
from govhub_common.problems import Problem
from govhub_exchange.delivery.notify import records_committed
from govhub_exchange.deps import Context, Limit, Publisher, Settings
from govhub_exchange.publishing import service
from govhub_exchange.publishing.parsing import split_body

router = APIRouter(prefix="/v1", tags=["publishing"])


async def _read_limited(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise Problem(413, "body_too_large", f"a publish request holds at most {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise Problem(
                413, "body_too_large", f"a publish request holds at most {max_bytes} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/topics/{code}/records",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            }
        }
    },
)
async def publish(
    code: str, request: Request, who: Publisher, ctx: Context, settings: Settings
) -> Response:
    """Publish a batch (a JSON array or NDJSON) of `{record_id, data, business_time?}`.

    Each record is judged on its own; the reply lists accepted, duplicate and rejected
    records (with the JSON path of every fault). The reply is sent after the commit.
    """
    content_type = request.headers.get("content-type", "")
    body = await _read_limited(request, settings.publish_max_bytes)
    items = split_body(content_type, body, max_records=settings.publish_max_records)
    result = await service.publish(ctx.db, publisher=who.agency, topic_code=code, items=items)
    if result["counts"]["accepted"]:
        records_committed(ctx, code)  # this replica at once; the others by NOTIFY
    return Response(orjson.dumps(result), media_type="application/json")


@router.get("/topics/{code}/quarantine")
async def quarantine(
    code: str, session: SessionDep, who: Publisher, after: int = 0, limit: Limit = 100
) -> dict[str, Any]:
    rows = await service.list_quarantine(
        session, who=who, topic_code=code, after=after, limit=limit
    )
    return {"data": rows, "next": rows[-1]["id"] if len(rows) == limit else None}
