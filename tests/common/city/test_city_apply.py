"""`govhub apply` and `govhub export` (issue 17, point 1) as an operator runs them from a
shell, against real hubs (`govhub run` on real PostgreSQL and RabbitMQ, one virtual host
each): a small city's files applied to an empty hub, again with no change, a dry run, one
changed file, pruning, and an export applied to a second empty hub."""

from __future__ import annotations

import asyncio
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from govhub_common.testing import (
    HubProcess,
    amqp_url,
    create_test_database,
    drop_test_database,
    rabbitmqctl,
)

GOVHUB = str(Path(sys.executable).parent / "govhub")
SMALL_CITY = Path(__file__).parent / "cities" / "small"
FOSHAN = Path(__file__).parents[3] / "examples" / "cities" / "foshan"


@asynccontextmanager
async def empty_hub(admin_db_url: str) -> AsyncIterator[HubProcess]:
    """A fresh hub process on its own database and RabbitMQ virtual host."""
    vhost = f"govhub-city-{uuid.uuid4().hex[:8]}"
    await rabbitmqctl("add_vhost", vhost)
    await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = await create_test_database(admin_db_url)
    # An empty hub: none of the suites' Guangzhou configuration (tests/conftest.py).
    hub = HubProcess(
        url,
        env={"GOVHUB_AMQP_URL": amqp_url().rstrip("/") + "/" + vhost, "GOVHUB_CITY_FILES": None},
    )
    try:
        await hub.start()
        yield hub
    finally:
        await hub.stop()
        await drop_test_database(admin_db_url, url)
        await rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="module")
async def hub(admin_db_url: str) -> AsyncIterator[HubProcess]:
    async with empty_hub(admin_db_url) as process:
        yield process


async def govhub(hub: HubProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [GOVHUB, *args, "--url", hub.url],
        env={**hub.env, "GOVHUB_CLIENT_SECRET": hub.operator_secret()},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def operator(hub: HubProcess) -> httpx.AsyncClient:
    token = await hub.token("operator", hub.operator_secret())
    return httpx.AsyncClient(base_url=hub.url, headers={"Authorization": f"Bearer {token}"})


async def test_invalid_files_are_refused_naming_the_file_and_the_path(
    hub: HubProcess, tmp_path: Path
) -> None:
    city = tmp_path / "city"
    shutil.copytree(SMALL_CITY, city)
    (city / "broken.yaml").write_text(
        "kind: Topic\nspec: {code: Bad-Code, owner: hz-amr, title: x, sharing_type: sometimes,"
        " schema: {}}\n---\nkind: Wizard\nspec: {}\n",
        encoding="utf-8",
    )
    done = await govhub(hub, "apply", "-f", str(city))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{city / 'broken.yaml'}#1: $.spec.code" in done.stderr
    assert f"{city / 'broken.yaml'}#1: $.spec.sharing_type" in done.stderr
    assert f"{city / 'broken.yaml'}#2: $.kind" in done.stderr
    async with await operator(hub) as client:
        assert (await client.get("/exchange/v1/agencies/hz-amr")).status_code == 404


async def test_a_step_the_hub_refuses_stops_apply_with_exit_1_naming_it(
    hub: HubProcess, tmp_path: Path
) -> None:
    city = tmp_path / "city"
    city.mkdir()
    # Valid in the format; the exchange refuses a data item without a title.
    (city / "city.yaml").write_text(
        "kind: Agency\nspec: {code: hz-step, name: 步骤测试局}\n---\n"
        "kind: Topic\nspec: {code: hz_untitled, owner: hz-step, title: 无标题, "
        "sharing_type: unconditional, schema: {type: object, properties: {a: {type: string}}}}\n",
        encoding="utf-8",
    )
    done = await govhub(hub, "apply", "-f", str(city))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "govhub apply failed at: create Topic hz_untitled: POST /exchange/v1/topics: 422" in (
        done.stderr
    )
    assert "$.schema.properties.a.title" in done.stderr
    async with await operator(hub) as client:  # the steps before it stay applied
        assert (await client.get("/exchange/v1/agencies/hz-step")).status_code == 200


async def test_a_dry_run_prints_the_difference_and_changes_nothing(hub: HubProcess) -> None:
    done = await govhub(hub, "apply", "-f", str(SMALL_CITY), "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    for line in (
        "+ Agency hz-amr",
        "+ Client hz-tax-reader",
        "+ Topic hz_enterprise_registered",
        "+ Subscription hz-tax/hz_enterprise_registered",
        "+ RegistryMapping hz_enterprise_registered",
        "+ AlertRule hz_tax_registration_missing",
        "+ SmsTemplate hz_tax_reminder",
    ):
        assert line in done.stdout.splitlines(), done.stdout
    assert "10 to create, 0 to update, 0 unchanged" in done.stdout
    async with await operator(hub) as client:
        assert (await client.get("/exchange/v1/agencies/hz-amr")).status_code == 404
        assert (
            await client.get("/alerting/v1/rules/hz_tax_registration_missing")
        ).status_code == 404


async def test_apply_creates_the_city_and_a_second_apply_changes_nothing(
    hub: HubProcess, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    done = await govhub(hub, "apply", "-f", str(SMALL_CITY), "--secrets-dir", str(secrets))
    assert done.returncode == 0, done.stdout + done.stderr
    async with await operator(hub) as client:
        assert (await client.get("/exchange/v1/agencies/hz-tax")).json()["contact"] == {
            "phone": "0571-12366"
        }
        topic = (await client.get("/exchange/v1/topics/hz_enterprise_registered")).json()
        assert topic["owner"] == "hz-amr" and topic["current_version"] == 1
        (subscription,) = (
            await client.get(
                "/exchange/v1/subscriptions", params={"role": "any", "topic": topic["code"]}
            )
        ).json()["data"]
        assert (subscription["subscriber"], subscription["status"]) == ("hz-tax", "approved")
        mapping = (await client.get("/registry/v1/mappings/hz_enterprise_registered")).json()
        assert mapping["definition"]["key"] == "uscc"
        # The rule names a topic the same apply created a moment before.
        rule = (await client.get("/alerting/v1/rules/hz_tax_registration_missing")).json()
        assert rule["enabled"] is True
        template = (await client.get("/sms/v1/templates/hz_tax_reminder")).json()
        assert template["signature"] == "【杭州市数据资源管理局】"
    # Each new client's secret: written once, 0600, printed nowhere; it obtains a token.
    for client_id, scope in (
        ("hz-amr-publisher", "exchange:publish"),
        ("hz-tax-reader", "exchange:subscribe"),
    ):
        path = secrets / f"{client_id}.secret"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        secret = path.read_text().strip()
        assert secret not in done.stdout + done.stderr
        assert await hub.token(client_id, secret, [scope])

    again = await govhub(hub, "apply", "-f", str(SMALL_CITY), "--secrets-dir", str(secrets))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 to create, 0 to update, 10 unchanged" in again.stdout
    assert again.stdout.strip().endswith("no changes")


async def test_the_foshan_example_city_applies_and_a_second_apply_changes_nothing(
    hub: HubProcess, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    done = await govhub(hub, "apply", "-f", str(FOSHAN), "--secrets-dir", str(secrets))
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 to update, 0 unchanged" in done.stdout
    assert sorted(p.name for p in secrets.iterdir()) == [
        f"fs-{name}-sync.secret" for name in ("amr", "civil", "fire", "hrss", "zumiao")
    ]
    async with await operator(hub) as client:
        subscriptions = (
            await client.get(
                "/exchange/v1/subscriptions", params={"role": "any", "topic": "shop_opened"}
            )
        ).json()["data"]
        assert {(s["subscriber"], s["status"]) for s in subscriptions} >= {("fs-fire", "approved")}
        assert (await client.get("/alerting/v1/rules/fire_inspection_missing")).status_code == 200
        assert (await client.get("/registry/v1/mappings/shop_opened")).status_code == 200
    again = await govhub(hub, "apply", "-f", str(FOSHAN))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 to create, 0 to update," in again.stdout
    assert again.stdout.strip().endswith("no changes")


async def test_a_changed_file_updates_only_that_thing(hub: HubProcess, tmp_path: Path) -> None:
    city = tmp_path / "city"
    shutil.copytree(SMALL_CITY, city)
    rules = city / "rules.yaml"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace(
            "前办理税务登记。", "前到主管税务机关办理税务登记。"
        ),
        encoding="utf-8",
    )
    topics = city / "topics.yaml"
    topics.write_text(
        topics.read_text(encoding="utf-8")
        .replace(
            "      registered_date: {type: string, format: date, title: 登记日期}",
            "      registered_date: {type: string, format: date, title: 登记日期}\n"
            "      tax_office: {type: string, title: 主管税务机关}",
        )
        .replace(
            "  title: 税务登记\n",
            "  title: 税务登记\n  retention: {days: 3650, legal_basis: 《税收征收管理法》第二十四条}\n",
        ),
        encoding="utf-8",
    )
    done = await govhub(hub, "apply", "-f", str(city))
    assert done.returncode == 0, done.stdout + done.stderr
    changes = [line for line in done.stdout.splitlines() if line[:2] in ("+ ", "~ ")]
    assert changes == [
        "~ Topic hz_tax_registered: retention, schema",
        "~ SmsTemplate hz_tax_reminder: body",
    ]
    assert "0 to create, 2 to update, 8 unchanged" in done.stdout
    async with await operator(hub) as client:
        template = (await client.get("/sms/v1/templates/hz_tax_reminder")).json()
        assert "主管税务机关" in template["body"] and template["version"] == 2
        topic = (await client.get("/exchange/v1/topics/hz_tax_registered")).json()
        assert topic["current_version"] == 2 and "tax_office" in topic["schema"]["properties"]
        assert topic["retention"] == {
            "days": 3650,
            "legal_basis": "《税收征收管理法》第二十四条",
        }
        other = (await client.get("/exchange/v1/topics/hz_enterprise_registered")).json()
        assert other["current_version"] == 1
    again = await govhub(hub, "apply", "-f", str(city))
    assert "0 to create, 0 to update, 10 unchanged" in again.stdout
    # `retention: null` in the files: the topic's records are kept for ever again.
    topics.write_text(
        topics.read_text(encoding="utf-8").replace(
            "  retention: {days: 3650, legal_basis: 《税收征收管理法》第二十四条}\n",
            "  retention: null\n",
        ),
        encoding="utf-8",
    )
    cleared = await govhub(hub, "apply", "-f", str(city))
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert "~ Topic hz_tax_registered: retention" in cleared.stdout.splitlines()
    async with await operator(hub) as client:
        topic = (await client.get("/exchange/v1/topics/hz_tax_registered")).json()
        assert topic["retention"] is None
    settled = await govhub(hub, "apply", "-f", str(city))
    assert "0 to create, 0 to update, 10 unchanged" in settled.stdout


async def test_an_export_applied_to_another_empty_hub_gives_the_same_export(
    hub: HubProcess, admin_db_url: str, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    done = await govhub(hub, "export", "-o", str(first))
    assert done.returncode == 0, done.stdout + done.stderr
    async with empty_hub(admin_db_url) as other:
        applied = await govhub(
            other, "apply", "-f", str(first), "--secrets-dir", str(tmp_path / "secrets")
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        second = tmp_path / "second"
        done = await govhub(other, "export", "-o", str(second))
        assert done.returncode == 0, done.stdout + done.stderr
        again = await govhub(other, "apply", "-f", str(first))
        assert "0 to create, 0 to update" in again.stdout and again.stdout.strip().endswith(
            "no changes"
        )
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert "subscriptions.yaml" in names and "clients.yaml" in names
    for name in names:
        assert (first / name).read_text() == (second / name).read_text(), name


async def test_prune_removes_only_with_prune_what_the_files_no_longer_name(
    hub: HubProcess, tmp_path: Path
) -> None:
    city = tmp_path / "city"
    shutil.copytree(SMALL_CITY, city)
    (city / "registry.yaml").unlink()
    (city / "rules.yaml").unlink()
    topics = city / "topics.yaml"
    text = topics.read_text(encoding="utf-8")
    topics.write_text(text[: text.index("---\nkind: Subscription")], encoding="utf-8")

    done = await govhub(hub, "apply", "-f", str(city))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "- AlertRule hz_tax_registration_missing (disable)  [prune candidate: --prune]"
        in done.stdout
    )
    async with await operator(hub) as client:
        assert (await client.get("/alerting/v1/rules/hz_tax_registration_missing")).json()[
            "enabled"
        ]

    done = await govhub(hub, "apply", "-f", str(city), "--prune")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "- Subscription hz-tax/hz_enterprise_registered (revoke)" in done.stdout
    async with await operator(hub) as client:
        assert not (await client.get("/alerting/v1/rules/hz_tax_registration_missing")).json()[
            "enabled"
        ]
        assert (
            await client.get("/registry/v1/mappings/hz_enterprise_registered")
        ).status_code == 404
        assert not (await client.get("/sms/v1/templates/hz_tax_reminder")).json()["active"]
        (subscription,) = (
            await client.get(
                "/exchange/v1/subscriptions",
                params={"role": "any", "topic": "hz_enterprise_registered"},
            )
        ).json()["data"]
        assert subscription["status"] == "revoked"
        # What the files still name is untouched; a topic is kept.
        assert not (await client.get("/exchange/v1/agencies/hz-tax")).json()["disabled"]
    again = await govhub(hub, "apply", "-f", str(city), "--prune")
    assert again.stdout.strip().endswith("no changes"), again.stdout
