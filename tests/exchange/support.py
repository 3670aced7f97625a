"""Helpers for the exchange tests: unique agencies and topics on the shared session hub."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from govhub_common.clock import utcnow
from govhub_common.testing import Hub
from govhub_exchange.archive import service as archive
from govhub_exchange.audit import service as audit
from govhub_exchange.publishing.service import audit_publishes
from govhub_exchange.settings import ExchangeSettings

BASE = "/exchange/v1"
ALL_AGENCY_SCOPES = ("exchange:publish", "exchange:subscribe", "exchange:catalog")

ENTERPRISE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "uscc": {"type": "string", "format": "cn-uscc", "title": "统一社会信用代码"},
        "name": {"type": "string", "title": "企业名称", "x-sensitivity": "public"},
        "legal_rep_id": {
            "type": "string",
            "format": "cn-ric",
            "title": "法定代表人身份证号",
            "x-sensitivity": "sensitive",
            "x-personal": True,
        },
        "legal_rep_name": {"type": "string", "title": "法定代表人", "x-personal": True},
        "address": {"type": "string", "title": "住所"},
        "district": {"type": "string", "title": "所属区"},
        "industry": {"type": "string", "title": "行业"},
        "registered_capital": {"type": "number", "title": "注册资本"},
        "established_date": {"type": "string", "format": "date", "title": "成立日期"},
        "mobile": {
            "type": "string",
            "format": "cn-mobile",
            "title": "联系电话",
            "x-sensitivity": "sensitive",
            "x-personal": True,
        },
    },
    "required": [
        "uscc",
        "name",
        "legal_rep_id",
        "legal_rep_name",
        "address",
        "district",
        "established_date",
    ],
}

VALID_USCCS = ["91440101MA59ABCD1D", "91350100M000100Y43", "91110108700123456W"]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def agency_headers(hub: Hub, agency: str) -> dict[str, str]:
    return hub.auth(agency, *ALL_AGENCY_SCOPES)


async def make_agency(hub: Hub, name: str = "测试局") -> str:
    code = unique("t-")
    response = await hub.client.post(
        f"{BASE}/agencies", json={"code": code, "name": name}, headers=hub.operator()
    )
    assert response.status_code == 201, response.text
    return code


async def make_topic(
    hub: Hub,
    owner: str,
    *,
    sharing_type: str = "unconditional",
    schema: dict[str, Any] | None = None,
    legal_basis: str | None = None,
    retention: dict[str, Any] | None = None,
    code: str | None = None,
) -> str:
    code = code or unique("t_")
    body: dict[str, Any] = {
        "code": code,
        "title": "企业开业登记",
        "sharing_type": sharing_type,
        "schema": schema or ENTERPRISE_SCHEMA,
    }
    if legal_basis:
        body["legal_basis"] = legal_basis
    if retention:
        body["retention"] = retention
    response = await hub.client.post(
        f"{BASE}/topics", json=body, headers=agency_headers(hub, owner)
    )
    assert response.status_code == 201, response.text
    return code


async def subscribe(hub: Hub, agency: str, topic: str, items: list[str]) -> dict[str, Any]:
    response = await hub.client.post(
        f"{BASE}/subscriptions",
        json={"topic": topic, "purpose": "税务登记比对", "items": items},
        headers=agency_headers(hub, agency),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def enterprise(i: int, **overrides: Any) -> dict[str, Any]:
    data = {
        "uscc": VALID_USCCS[i % len(VALID_USCCS)],
        "name": f"广州示例贸易有限公司{i}",
        "legal_rep_id": "11010519491231002X",
        "legal_rep_name": "张三",
        "address": "广州市天河区体育西路1号",
        "district": "天河区",
        "established_date": "2008-03-01",
        "mobile": "+8613800138000",
    }
    data.update(overrides)
    return data


async def publish(
    hub: Hub, agency: str, topic: str, records: list[dict[str, Any]]
) -> dict[str, Any]:
    response = await hub.client.post(
        f"{BASE}/topics/{topic}/records", json=records, headers=agency_headers(hub, agency)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Settings for a hub started inside the block (each service reads its settings from
    the environment when its app is made)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def checkpoints(hub: Hub) -> Path:
    """Where the hub writes its signed audit checkpoints."""
    return audit.checkpoint_dir(ExchangeSettings(), hub.runtime.database_url)


async def maintain_log(
    hub: Hub, directory: Path, *, days_ahead: int, max_age_days: int = 36_500
) -> archive.Maintenance:
    """The log's maintenance round as of `days_ahead` days from now, archiving to
    `directory` (every publish audited first, as the hub does before it)."""
    async with hub.runtime.db.session() as session:
        while await audit_publishes(session):
            pass
    return await archive.maintain(
        hub.runtime.db,
        # By default open segments stay open: only full ones are archived.
        ExchangeSettings(log_segment_max_age_days=max_age_days),
        directory=directory,
        keys=hub.runtime.keys,
        checkpoint_dir=checkpoints(hub),
        now=utcnow() + timedelta(days=days_ahead),
    )


async def topic_gauge(hub: Hub, metric: str, topic: str) -> float | None:
    """A per-topic gauge's value as the exchange's /metrics shows it; None without a series."""
    text = (await hub.client.get("/exchange/metrics")).text
    series = f'{metric}{{topic="{topic}"}} '
    values = [float(line[len(series) :]) for line in text.splitlines() if line.startswith(series)]
    return values[0] if values else None
