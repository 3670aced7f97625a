"""Publishing records to a topic, and reading its quarantine."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from govhub_common.contract import COMPONENTS, ProblemCode, component_schemas, problem_responses
from govhub_common.db import SessionDep
from govhub_common.json_input import reads_own_json
from govhub_common.limits import body_limit
from govhub_common.pagination import Page, decode_cursor, page
from govhub_exchange.delivery.notify import records_committed
from govhub_exchange.deps import DEFAULT_LIMIT, Context, Cursor, Limit, Publisher, Settings
from govhub_exchange.fields import TopicPath
from govhub_exchange.publishing import service
from govhub_exchange.publishing.parsing import split_body
from govhub_exchange.publishing.schemas import (
    RECORD_EXAMPLE,
    PublishRequest,
    PublishResult,
    QuarantinedRecord,
)

router = APIRouter(prefix="/v1", tags=["publishing"])


_SECOND_RECORD = {
    "record_id": "91440106MA59YYYY2B",
    "data": {
        "uscc": "91440106MA59YYYY2B",
        "name": "广州穗禾餐饮管理有限公司",
        "registered_on": "2026-03-01",
    },
}
_NDJSON_EXAMPLE = "".join(
    orjson.dumps(record).decode() + "\n" for record in (RECORD_EXAMPLE, _SECOND_RECORD)
)

_PUBLISH_BODY = {
    "required": True,
    "description": 'The records, as JSON (`{"records": [...]}` or a bare array) or as '
    "NDJSON (one record per line; a line "
    "that is not JSON rejects that record only). At most `publish_max_records` records and "
    "`publish_max_bytes` bytes (413 beyond).",
    "content": {
        "application/json": {
            # An object, not the bare array the service also takes: generators type a body
            # that may be JSON or NDJSON by isinstance, which a list type cannot pass.
            "schema": {"$ref": "#/components/schemas/PublishRequest"},
            "example": {"records": [RECORD_EXAMPLE, _SECOND_RECORD]},
        },
        "application/x-ndjson": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "One JSON record per line, each as the JSON alternative's items.",
            },
            "example": _NDJSON_EXAMPLE,
        },
    },
}


@router.post(
    "/topics/{code}/records",
    response_model=PublishResult,
    summary="Publish records to a topic",
    responses=problem_responses(
        ProblemCode.MALFORMED_JSON,
        ProblemCode.NOT_AN_ARRAY,
        ProblemCode.FORBIDDEN,
        ProblemCode.TOO_MANY_RECORDS,
        ProblemCode.BODY_TOO_LARGE,
        ProblemCode.UNSUPPORTED_MEDIA_TYPE,
    ),
    openapi_extra={
        "requestBody": _PUBLISH_BODY,
        COMPONENTS: component_schemas(PublishRequest),
        # Larger than GOVHUB_MAX_BODY_BYTES; govhub_common.limits refuses a body beyond it
        # (413) before it is read.
        **body_limit("publish_max_bytes"),
        # Parsed here, record by record: a duplicate key rejects its record only.
        **reads_own_json(),
    },
)
async def publish_records(
    code: TopicPath, request: Request, who: Publisher, ctx: Context, settings: Settings
) -> Response:
    """Publish a batch (a JSON array or NDJSON) of `{record_id, data, business_time?}` to a
    topic the caller's agency owns. Each record is judged on its own against the topic's
    schema: the reply lists the accepted records (with their seq and version), the
    duplicates and the rejected ones (with the JSON path of every fault; they go to the
    topic's quarantine). The reply is sent after the commit."""
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    items = split_body(content_type, body, max_records=settings.publish_max_records)
    result = await service.publish(
        ctx.db, publisher=who.agency, topic_code=code, items=items, arrived_at=ctx.clock.now()
    )
    if result["counts"]["accepted"]:
        records_committed(ctx, code)  # this replica at once; the others by NOTIFY
    # Written as is (a PublishResult): validating thousands of items again costs the rate.
    return Response(orjson.dumps(result), media_type="application/json")


@router.get(
    "/topics/{code}/quarantine",
    response_model=Page[QuarantinedRecord],
    summary="List a topic's quarantined records",
    responses=problem_responses(ProblemCode.FORBIDDEN, ProblemCode.INVALID_CURSOR),
)
async def list_quarantine(
    code: TopicPath,
    session: SessionDep,
    who: Publisher,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[QuarantinedRecord]:
    """The records of the topic's publish requests that were rejected, as received and with
    their faults, oldest first (the topic's owner or an operator)."""
    key = decode_cursor(cursor, int)
    rows = await service.list_quarantine(
        session, who=who, topic_code=code, after=key[0] if key else 0, limit=limit + 1
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=QuarantinedRecord.model_validate)
