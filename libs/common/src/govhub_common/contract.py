"""The API contract every service's OpenAPI document keeps.

- one catalogue of problem codes (status, meaning), and one `Problem` schema whose `code` is
  an enum of it: every error an operation can give is declared as
  `application/problem+json` with that schema (FastAPI's own 422 schema is replaced);
- security as it works: an OAuth2 client-credentials flow against the exchange's token
  endpoint, every scope described, and each operation listing the scopes it accepts;
- stable camelCase operation ids (the route function's name), one tag per domain, a server
  whose base URL is a variable (an absolute URL for generated clients).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from govhub_common.json_input import READS_OWN_JSON
from govhub_common.limits import BODY_LIMIT_SETTING
from govhub_common.problem_codes import CATALOGUE, ProblemCode
from govhub_common.problems import PROBLEM_JSON
from govhub_common.web import REQUEST_ID_PATTERN

TOKEN_URL = "/exchange/v1/oauth/token"
SECURITY_SCHEME = "oauth2"

SCOPES: dict[str, str] = {
    "operator": "Platform operators: everything, in every service.",
    "exchange:publish": "Publish to topics the agency owns; read its quarantine.",
    "exchange:subscribe": "Request subscriptions, read feeds, manage webhooks.",
    "exchange:catalog": "Create and version topics the agency owns; decide subscription requests.",
    "exchange:clients": "List the agency's own OAuth clients and rotate their secrets (the "
    "agency's data stewards, through the console).",
    "registry:read": "Registry lookups, limited by the registry's access policy.",
    "alerting:read": "Warnings assigned to the agency, and figures.",
    "alerting:work": "Transitions and silences on warnings assigned to the agency.",
    "sms:send": "Submit SMS messages and read their status.",
}


class FieldError(BaseModel):
    path: str = Field(
        description="JSON path of the faulty input: `$.records[3].uscc`, `query:$.limit`."
    )
    message: str
    type: str | None = Field(
        None, description="The kind of fault (e.g. `missing`, `string_too_long`)."
    )


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error of the hub is answered."""

    type: str = Field(description="A URI naming the problem: `https://govhub.dev/problems/<code>`.")
    title: str
    status: int
    detail: str = Field(description="What went wrong with this request, for a person.")
    code: ProblemCode = Field(description="What went wrong, for a program; see the catalogue.")
    instance: str | None = Field(None, description="The request path.")
    errors: list[FieldError] | None = Field(None, description="Each faulty field, for validation.")

    model_config = {
        "title": "Problem",
        "extra": "allow",
        "json_schema_extra": {
            "examples": [
                {
                    "type": "https://govhub.dev/problems/validation_failed",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": "invalid input at query:$.limit",
                    "code": "validation_failed",
                    "instance": "/exchange/v1/subscriptions/7/records",
                    "errors": [
                        {
                            "path": "query:$.limit",
                            "message": "Input should be greater than or equal to 1",
                            "type": "greater_than_equal",
                        }
                    ],
                }
            ]
        },
    }


_STATUS_DESCRIPTIONS = {
    400: "Bad request",
    401: "No valid token",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the resource's state",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    503: "A part the hub needs is unreachable; retry after `Retry-After`",
}


# An operation's `openapi_extra` may carry schemas its hand-written request body refers to
# (`{"$ref": "#/components/schemas/Name"}`); they are moved into the document's components.
COMPONENTS = "x-govhub-components"


def component_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schemas of models (and the models they use), for COMPONENTS."""
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def problem_responses(*codes: ProblemCode) -> dict[int | str, dict[str, Any]]:
    """For a route's `responses=`: the statuses of these codes, as problem+json."""
    listed = list(codes)
    statuses = {CATALOGUE[code][0] for code in listed}
    # A 403 or 422 of the operation's own replaces the standard one: keep its code listed.
    for status, standard in (
        (403, ProblemCode.INSUFFICIENT_SCOPE),
        (422, ProblemCode.VALIDATION_FAILED),
    ):
        if status in statuses and standard not in listed:
            listed.insert(0, standard)
    by_status: dict[int, list[ProblemCode]] = {}
    for code in listed:
        by_status.setdefault(CATALOGUE[code][0], []).append(code)
    return {status: _problem_response(status, found) for status, found in by_status.items()}


def _problem_response(status: int, codes: Iterable[ProblemCode]) -> dict[str, Any]:
    listed = ", ".join(f"`{c.value}`" for c in codes)
    description = _STATUS_DESCRIPTIONS.get(status, "Error")
    if listed:
        description += f" ({listed})"
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer"},
            }
        }
    return response


def operation_id(route: APIRoute) -> str:
    """`list_dead_letters` -> `listDeadLetters`: stable, the route function's own name."""
    head, *rest = route.name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def scopes_of(route: Any) -> list[str] | None:
    """The scopes an operation accepts (any one will do), from its `require_scope`
    dependencies; None when it needs no token; [] when any valid token will do."""
    needs_token = False
    accepted: set[str] = set()
    todo = list(route.dependant.dependencies)
    while todo:
        dep = todo.pop()
        scopes = getattr(dep.call, "accepted_scopes", None)
        if scopes is not None:
            accepted |= set(scopes)
            needs_token = True
        elif getattr(dep.call, "needs_token", False):
            needs_token = True
        todo += dep.dependencies
    return sorted(accepted) if needs_token else None


def install_contract(
    app: FastAPI, *, prefix: str, summary_of: Callable[[APIRoute], str] | None = None
) -> None:
    """Replace the app's OpenAPI document by the contract's form of it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            separate_input_output_schemas=app.separate_input_output_schemas,
        )
        _shape(document, app, prefix)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


_PATH_PARAM = re.compile(r"{[^}]+}")


_GENERIC_NAME = re.compile(r"^(?P<generic>[A-Za-z]+)_(?P<args>[A-Za-z0-9_]+)_$")


def _rename_generic_schemas(document: dict[str, Any]) -> None:
    """`Page_ConflictPublic_` (pydantic's name for `Page[ConflictPublic]`) becomes
    `ConflictPublicPage`: the name a generated client gives the class."""
    schemas = document.get("components", {}).get("schemas", {})
    renames: dict[str, str] = {}
    for name in list(schemas):
        match = _GENERIC_NAME.match(name)
        if match is None:
            continue
        new = match["args"].replace("_", "") + match["generic"]
        if new not in schemas and new not in renames.values():
            renames[name] = new
    if not renames:
        return
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
        schemas[new]["title"] = new
    refs = {
        f"#/components/schemas/{old}": f"#/components/schemas/{new}" for old, new in renames.items()
    }

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref in refs:
                node["$ref"] = refs[ref]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    document["components"]["schemas"] = dict(sorted(schemas.items()))


def _shape(document: dict[str, Any], app: FastAPI, prefix: str) -> None:
    _rename_generic_schemas(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = ProblemDetails.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for name, schema in schemas["Problem"].pop("$defs", {}).items():
        schemas[name] = schema
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "oauth2",
            "description": "OAuth2 client credentials: the exchange issues short-lived signed "
            "tokens; send them as `Authorization: Bearer <token>`.",
            "flows": {"clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": dict(SCOPES)}},
        }
    }
    document["servers"] = [
        {
            "url": "{baseUrl}" + prefix,
            "description": "The hub: one base URL for every service.",
            "variables": {"baseUrl": {"default": "http://127.0.0.1:8000"}},
        }
    ]
    routes = {
        (route.path_format, method.lower()): route
        for route in api_routes(app)
        for method in route.methods
    }
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            route = routes.get((path, method))
            if route is None:
                continue
            _shape_operation(operation, route, path, schemas)


def _shape_operation(
    operation: dict[str, Any], route: Any, path: str, schemas: dict[str, Any]
) -> None:
    for name, schema in operation.pop(COMPONENTS, {}).items():
        schemas.setdefault(name, schema)
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name", "").lower() == "x-request-id" for p in parameters):
        parameters.append(_REQUEST_ID_PARAMETER)
    responses = operation.setdefault("responses", {})
    scopes = scopes_of(route)
    if scopes is None:
        operation["security"] = []
    else:
        operation["security"] = [{SECURITY_SCHEME: [scope]} for scope in scopes] or [
            {SECURITY_SCHEME: []}
        ]
    standard: list[int] = []
    # Read from the route by govhub_common.limits and .json_input; not the client's business.
    operation.pop(BODY_LIMIT_SETTING, None)
    operation.pop(READS_OWN_JSON, None)
    if route.body_field is not None:
        # A JSON body that cannot be decoded (not UTF-8) is FastAPI's 400 before validation.
        standard.append(400)
    if "requestBody" in operation:
        # govhub_common.limits answers an overlong body before anything reads it.
        standard.append(413)
    if scopes is not None:
        standard += [401] + ([403] if scopes else [])
    if _PATH_PARAM.search(path):
        standard.append(404)
    # Every operation takes X-Request-Id, and a malformed one is a 422 (govhub_common.web).
    standard.append(422)
    if path not in ("/healthz", "/readyz"):
        standard.append(503)
    codes_for = {
        400: [ProblemCode.HTTP_ERROR],
        401: [ProblemCode.UNAUTHORIZED],
        403: [ProblemCode.INSUFFICIENT_SCOPE],
        404: [ProblemCode.NOT_FOUND],
        413: [ProblemCode.BODY_TOO_LARGE],
        422: [ProblemCode.VALIDATION_FAILED],
        503: [ProblemCode.DATABASE_UNAVAILABLE, ProblemCode.BROKER_UNAVAILABLE],
    }
    for status in standard:
        key = str(status)
        declared = responses.get(key)
        if declared is None or (status == 422 and _is_fastapi_422(declared)):
            responses[key] = _problem_response(status, codes_for[status])


# Every operation takes it (govhub_common.web echoes it back and logs it).
_REQUEST_ID_PARAMETER = {
    "name": "X-Request-Id",
    "in": "header",
    "required": False,
    "description": "Your id for this request: echoed back and written in the hub's logs "
    "(a new one is made when absent).",
    "schema": {"type": "string", "pattern": f"^{REQUEST_ID_PATTERN}$"},
}


def api_routes(app: FastAPI) -> list[Any]:
    """The app's operations as FastAPI documents them (included routers are nested)."""
    from fastapi import routing
    from fastapi.openapi.utils import _get_api_route_for_openapi

    found: list[Any] = []
    for context in routing.iter_route_contexts(app.routes):
        route = _get_api_route_for_openapi(context)
        if route is not None:
            found.append(route)
    return found


def _is_fastapi_422(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))
