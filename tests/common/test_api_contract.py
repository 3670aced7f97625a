"""The API is a contract: every service's OpenAPI document declares its errors as
problem+json with the one Problem schema, its security as it works, stable operation ids,
and is committed under docs/openapi/ (a change is a reviewed diff)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from govhub_common.contract import CATALOGUE, ProblemCode
from govhub_common.openapi_documents import service_documents, stale_files
from govhub_common.testing import Hub

REPO = Path(__file__).resolve().parents[2]
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return service_documents()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]


def test_the_committed_documents_are_the_codes(documents: dict[str, dict[str, Any]]) -> None:
    stale = stale_files(REPO / "docs")
    assert not stale, f"run `govhub openapi` and review the diff: {[str(p) for p in stale]}"


def test_every_problem_is_raised_by_its_catalogue_code() -> None:
    """A raise site names a `ProblemCode` and the status follows from the catalogue: no
    code or status written as a literal, so the two cannot disagree."""
    named, literal = set(), []
    for source in [*REPO.glob("libs/*/src/**/*.py"), *REPO.glob("services/*/src/**/*.py")]:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Problem"
                and node.args
            ):
                continue
            first = node.args[0]
            if isinstance(first, ast.Attribute) and getattr(first.value, "id", "") == "ProblemCode":
                named.add(first.attr)
            elif isinstance(first, ast.Constant):
                literal.append(f"{source.relative_to(REPO)}:{node.lineno}")
    assert len(named) > 20, "few Problem(ProblemCode.X, ...) found: the scan is broken"
    assert not literal, f"problems raised with a literal code: {literal}"
    assert named <= {c.name for c in ProblemCode}
    assert set(CATALOGUE) == set(ProblemCode), "a code without a status and meaning"


def test_every_error_is_a_problem_and_security_is_declared(
    documents: dict[str, dict[str, Any]],
) -> None:
    for name, document in documents.items():
        schemas = document["components"]["schemas"]
        assert "HTTPValidationError" not in schemas, name
        problem = schemas["Problem"]
        codes = schemas[problem["properties"]["code"]["$ref"].split("/")[-1]]["enum"]
        assert set(codes) == {c.value for c in ProblemCode}
        flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
        assert flow["tokenUrl"] == "/exchange/v1/oauth/token"
        assert "operator" in flow["scopes"]
        assert document["servers"][0]["url"].startswith("{baseUrl}")
        for method, path, op in operations(document):
            where = f"{name}: {method.upper()} {path}"
            assert "security" in op, where
            for status, response in op["responses"].items():
                if int(status) < 400:
                    continue
                content = response.get("content", {})
                assert list(content) == ["application/problem+json"], where + " " + status
                ref = content["application/problem+json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Problem", where + " " + status
            if op["security"]:
                scopes = {s for alternative in op["security"] for s in alternative["oauth2"]}
                assert "401" in op["responses"], where
                assert scopes <= set(flow["scopes"]), where
                if scopes:
                    assert "403" in op["responses"], where
            if "{" in path:
                assert "404" in op["responses"], where
            if path not in ("/healthz", "/readyz"):
                assert "503" in op["responses"], where
                assert "Retry-After" in op["responses"]["503"]["headers"], where


def test_operation_ids_are_stable_camel_case_and_unique(
    documents: dict[str, dict[str, Any]],
) -> None:
    for name, document in documents.items():
        ids = [op["operationId"] for _, _, op in operations(document)]
        assert all(CAMEL.match(i) for i in ids), (name, [i for i in ids if not CAMEL.match(i)])
        assert len(ids) == len(set(ids)), (name, sorted(i for i in ids if ids.count(i) > 1))


async def test_options_and_405_name_the_methods_a_path_takes(hub: Hub) -> None:
    reply = await hub.client.options("/exchange/v1/topics")
    assert reply.status_code == 204
    assert reply.headers["allow"] == "GET, OPTIONS, POST"
    reply = await hub.client.delete("/exchange/v1/topics", headers=hub.operator())
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET, OPTIONS, POST"
    assert reply.json()["code"] == "method_not_allowed"
    reply = await hub.client.options("/exchange/v1/no-such-thing")
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"


async def test_a_request_id_is_echoed_and_bounded(hub: Hub) -> None:
    reply = await hub.client.get("/exchange/v1/topics", headers={"X-Request-Id": "gz-tax-42"})
    assert reply.headers["x-request-id"] == "gz-tax-42"
    reply = await hub.client.get("/exchange/v1/topics", headers={"X-Request-Id": "x" * 129})
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["errors"][0]["path"] == "header:$.X-Request-Id"
    assert "x" * 129 not in reply.text
