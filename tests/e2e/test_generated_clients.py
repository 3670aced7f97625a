"""The flagship flow driven by clients generated from the committed OpenAPI documents, as an
agency's developers would generate them (openapi-python-client, offline): every call goes
through a generated function and comes back as a generated model, errors included."""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from govhub_common.testing import Hub

REPO = Path(__file__).resolve().parents[2]
GENERATOR = str(Path(sys.executable).parent / "openapi-python-client")
SERVICES = {
    "exchange": "exchange",
    "registry": "registry",
    "alerting": "alerting",
    "sms-gateway": "sms",
}
PREFIXES = {
    "exchange": "/exchange",
    "registry": "/registry",
    "alerting": "/alerting",
    "sms": "/sms",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One client package per committed document: exchange_client, alerting_client, ..."""
    out = tmp_path_factory.mktemp("clients")
    for document, name in SERVICES.items():
        config = out / f"{name}.yaml"
        config.write_text(
            f"project_name_override: {name}_client\n"
            f"package_name_override: {name}_client\n"
            "post_hooks: []\n"
            # NDJSON and YAML bodies are text sent as they are (docs/contracts.md).
            "content_type_overrides:\n"
            "  application/x-ndjson: application/octet-stream\n"
            "  application/yaml: application/octet-stream\n"
        )
        done = subprocess.run(
            [
                GENERATOR,
                "generate",
                "--path",
                str(REPO / "docs" / "openapi" / f"{document}.json"),
                "--output-path",
                str(out / f"{name}_client"),
                "--meta",
                "none",
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        # Every operation and body generated: nothing skipped, no warning.
        assert not any(w in done.stdout.lower() for w in ("warning", "skipping", "unsupported")), (
            done.stdout
        )
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))


def op(service: str, tag: str, operation: str) -> Any:
    return importlib.import_module(f"{service}_client.api.{tag}.{operation}")


def model(service: str, name: str) -> Any:
    return getattr(importlib.import_module(f"{service}_client.models"), name)


def connect(hub: Hub, service: str, token: str | None = None, **httpx_args: Any) -> Any:
    """A generated client whose requests go to the in-process hub."""
    package = importlib.import_module(f"{service}_client")
    base = f"http://testserver{PREFIXES[service]}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=hub.app)
    if token:
        client = package.AuthenticatedClient(base_url=base, token=token)
    else:
        client = package.Client(base_url=base)
    client.set_async_httpx_client(
        httpx.AsyncClient(transport=transport, base_url=base, headers=headers, **httpx_args)
    )
    return client


def expect(result: Any, service: str, name: str) -> Any:
    """The generated model the operation promises; a problem's detail otherwise."""
    if not isinstance(result, model(service, name)):
        detail = getattr(result, "detail", result)
        errors = [(e.path, e.message) for e in getattr(result, "errors", None) or []]
        raise AssertionError(f"expected {name}, got {detail} {errors}")
    return result


def problem(result: Any, service: str, code: str) -> Any:
    assert isinstance(result, model(service, "Problem")), result
    assert result.code == model(service, "ProblemCode")(code)
    return result


async def token(hub: Hub, client_id: str, secret: str, *, basic: bool = False) -> str:
    issue = op("exchange", "identity", "issue_token")
    request = model("exchange", "IssueTokenTokenRequest")
    # The grant is one of two (client credentials, or the console's token exchange): an enum.
    client_credentials = model("exchange", "IssueTokenTokenRequestGrantType")("client_credentials")
    if basic:  # RFC 6749 2.3.1: the client authenticates with HTTP Basic
        client = connect(hub, "exchange", auth=(client_id, secret))
        reply = await issue.asyncio(client=client, body=request(grant_type=client_credentials))
    else:
        reply = await issue.asyncio(
            client=connect(hub, "exchange"),
            body=request(grant_type=client_credentials, client_id=client_id, client_secret=secret),
        )
    expect(reply, "exchange", "TokenResponse")
    return str(reply.access_token)


async def test_the_flagship_flow_through_generated_clients(
    generated: Path, hub: Hub, govhub_home: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    operator = await token(hub, "operator", (govhub_home / "operator-secret").read_text().strip())
    as_operator = connect(hub, "exchange", operator)

    # Two agencies with clients of their own: market regulation publishes, tax subscribes.
    secrets: dict[str, tuple[str, str]] = {}
    for agency, name, scopes in (
        (f"gz-amr-{suffix}", "广州市市场监督管理局", ["exchange:publish", "exchange:catalog"]),
        (
            f"gz-tax-{suffix}",
            "国家税务总局广州市税务局",
            ["exchange:subscribe", "alerting:read", "alerting:work", "sms:send"],
        ),
    ):
        created = await op("exchange", "identity", "create_agency").asyncio(
            client=as_operator, body=model("exchange", "AgencyCreate")(code=agency, name=name)
        )
        expect(created, "exchange", "AgencyPublic")
        issued = await op("exchange", "identity", "create_client").asyncio(
            agency,
            client=as_operator,
            body=model("exchange", "ClientCreate")(scopes=scopes),
        )
        expect(issued, "exchange", "ClientWithSecret")
        secrets[agency] = (issued.client_id, issued.client_secret)
    amr, tax = f"gz-amr-{suffix}", f"gz-tax-{suffix}"
    as_amr = connect(hub, "exchange", await token(hub, *secrets[amr]))
    tax_token = await token(hub, *secrets[tax], basic=True)
    as_tax = connect(hub, "exchange", tax_token)

    # A topic of licences, and tax's request for it, approved by its owner.
    licences, registrations = f"licence_{suffix}", f"tax_reg_{suffix}"
    for code, title, date_item in (
        (licences, "企业设立登记", "established_date"),
        (registrations, "税务登记", "registered_date"),
    ):
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "uscc": {"type": "string", "maxLength": 18, "title": "统一社会信用代码"},
                "name": {"type": "string", "maxLength": 200, "title": "企业名称"},
                date_item: {"type": "string", "format": "date", "title": "日期"},
            },
            "required": ["uscc", date_item],
            "additionalProperties": False,
        }
        topic = await op("exchange", "catalog", "create_topic").asyncio(
            client=as_amr,
            body=model("exchange", "TopicCreate")(
                code=code,
                title=title,
                sharing_type=model("exchange", "TopicCreateSharingType").CONDITIONAL,
                schema=model("exchange", "TopicCreateSchema").from_dict(schema),
            ),
        )
        expect(topic, "exchange", "TopicDetail")
    request = await op("exchange", "subscriptions", "request_subscription").asyncio(
        client=as_tax,
        body=model("exchange", "SubscriptionCreate")(
            topic=licences, purpose="税务登记核查", items=["uscc", "established_date"]
        ),
    )
    expect(request, "exchange", "SubscriptionPublic")
    approved = await op("exchange", "subscriptions", "decide_subscription").asyncio(
        request.id, client=as_amr, body=model("exchange", "Decision")(approve=True)
    )
    assert approved.status == model("exchange", "SubscriptionPublicStatus").APPROVED

    # Publishing: a JSON batch, then an NDJSON one through its documented body.
    long_ago = (datetime.now(UTC) - timedelta(days=400)).date()
    records = [
        {
            "uscc": f"9144010{n:02d}{suffix.upper()}XYZ",
            "name": f"广州示范{n}有限公司",
            "established_date": long_ago.isoformat(),
        }
        for n in range(30)
    ]
    publish = op("exchange", "publishing", "publish_records")
    record = model("exchange", "PublishRecord")
    result = await publish.asyncio(
        licences,
        client=as_amr,
        body=model("exchange", "PublishRequest")(
            records=[
                record(
                    record_id=r["uscc"], data=model("exchange", "PublishRecordData").from_dict(r)
                )
                for r in records[:20]
            ]
        ),
    )
    expect(result, "exchange", "PublishResult")
    assert result.counts.accepted == 20 and not result.rejected
    ndjson = "".join(
        f'{{"record_id": "{r["uscc"]}", "data": {{"uscc": "{r["uscc"]}", "established_date": "{r["established_date"]}"}}}}\n'
        for r in records[20:]
    )
    file = importlib.import_module("exchange_client.types").File
    # Bytes, not a file object: an async httpx client streams only bytes or async iterators.
    result = await publish.asyncio(licences, client=as_amr, body=file(payload=ndjson.encode()))
    expect(result, "exchange", "PublishResult")
    assert result.counts.accepted == 10

    # The feed, read to the end with the generic loop: `while next`.
    read_feed = op("exchange", "delivery", "read_feed")
    seen: list[str] = []
    page = await read_feed.asyncio(request.id, client=as_tax, limit=7)
    while True:
        expect(page, "exchange", "FeedPage")
        seen += [item.record_id for item in page.data]
        assert (
            set(page.data[0].data.to_dict()) <= {"uscc", "established_date"} if page.data else True
        )
        if not page.next_:
            break
        page = await read_feed.asyncio(request.id, client=as_tax, cursor=page.next_, limit=7)
    assert page.caught_up
    assert sorted(seen) == sorted(r["uscc"] for r in records)

    # A warning, worked from open to resolved by tax. Alerting knows a topic once it has
    # records (issue 17): one tax registration, of another enterprise.
    other = "91440101MA5C000009"
    registered = await publish.asyncio(
        registrations,
        client=as_amr,
        body=model("exchange", "PublishRequest")(
            records=[
                record(
                    record_id=other,
                    data=model("exchange", "PublishRecordData").from_dict(
                        {"uscc": other, "registered_date": long_ago.isoformat()}
                    ),
                )
            ]
        ),
    )
    expect(registered, "exchange", "PublishResult")
    await hub.settle()
    rule_id = f"licence_no_tax_{suffix}"
    as_alerting_operator = connect(hub, "alerting", operator)
    rule = await op("alerting", "rules", "create_rule").asyncio(
        client=as_alerting_operator,
        body=model("alerting", "AbsenceRule").from_dict(
            {
                "id": rule_id,
                "kind": "absence",
                "title": "应办未办税务登记",
                "assigned_agency": tax,
                "trigger": {"topic": licences, "key": "uscc", "date": "established_date"},
                "expected": [{"topic": registrations, "key": "uscc", "date": "registered_date"}],
                "within": "P30D",
            }
        ),
    )
    expect(rule, "alerting", "RulePublic")
    # The licences came before the rule: a backfill judges them (their deadlines passed).
    backfilled = await op("alerting", "rules", "backfill_rule").asyncio(
        rule_id,
        client=as_alerting_operator,
        body=model("alerting", "BackfillRequest")(dry_run=False),
    )
    expect(backfilled, "alerting", "BackfillResult")
    assert backfilled.raised == len(records)
    as_tax_alerting = connect(hub, "alerting", tax_token)
    warnings = await op("alerting", "warnings", "list_warnings").asyncio(
        client=as_tax_alerting, rule=rule_id
    )
    expect(warnings, "alerting", "WarningPublicPage")
    assert len(warnings.data) == len(records)
    warning = warnings.data[0]
    transition = op("alerting", "warnings", "transition_warning")
    transition_body = model("alerting", "TransitionCreate")
    status = model("alerting", "TransitionCreateStatus")
    worked = await transition.asyncio(
        warning.id, client=as_tax_alerting, body=transition_body(status=status.INVESTIGATING)
    )
    expect(worked, "alerting", "WarningPublic")
    resolved = await transition.asyncio(
        warning.id,
        client=as_tax_alerting,
        body=transition_body(
            status=status.RESOLVED,
            resolution=model("alerting", "TransitionCreateResolutionType0").COMPLIED_LATE,
            note="企业已于次月补办税务登记",
        ),
    )
    expect(resolved, "alerting", "WarningPublic")
    assert resolved.status.value == "resolved"

    # An SMS submitted twice with one idempotency key: created, then the same message.
    as_tax_sms = connect(hub, "sms", tax_token)
    send = op("sms", "messages", "send_message")
    message = model("sms", "MessageCreate").from_dict(
        {
            "recipient": "+8613800138000",
            "template": "tax_registration_reminder",
            "params": {"name": "广州示范有限公司", "deadline": "2008-01-31"},
        }
    )
    first = await send.asyncio_detailed(
        client=as_tax_sms, body=message, idempotency_key=f"k-{suffix}"
    )
    again = await send.asyncio_detailed(
        client=as_tax_sms, body=message, idempotency_key=f"k-{suffix}"
    )
    assert (first.status_code, again.status_code) == (201, 200), (first, again)
    assert isinstance(first.parsed, model("sms", "MessagePublic"))
    assert again.parsed.id == first.parsed.id

    # Errors come back as typed problems.
    stranger = connect(hub, "exchange", "not-a-token")
    problem(
        await op("exchange", "catalog", "list_topics").asyncio(client=stranger),
        "exchange",
        "unauthorized",
    )
    problem(
        await op("exchange", "identity", "list_agencies").asyncio(client=as_tax),
        "exchange",
        "insufficient_scope",
    )
    problem(
        await op("exchange", "catalog", "get_topic").asyncio("no_such_topic", client=as_tax),
        "exchange",
        "not_found",
    )
    problem(
        await op("exchange", "identity", "create_agency").asyncio(
            client=as_operator, body=model("exchange", "AgencyCreate")(code=amr, name="重复")
        ),
        "exchange",
        "agency_exists",
    )
    invalid = problem(
        await read_feed.asyncio(request.id, client=as_tax, limit=0), "exchange", "validation_failed"
    )
    assert invalid.errors[0].path == "query:$.limit"
