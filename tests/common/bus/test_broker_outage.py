"""/readyz follows the real broker connection without taking the pod out of its Service: while
RabbitMQ cannot be reached (the robust connection is reconnecting, not closed) the pod stays
ready (reads are served, publishes wait in the outbox), /readyz names the broker degraded and
govhub_bus_connected reads 0; once it is back, both read ok again."""

from __future__ import annotations

import uuid

from govhub_common.settings import CommonSettings
from govhub_common.testing import rabbitmqctl, running_hub, wait_for


def bus_connected(metrics: str) -> str | None:
    for line in metrics.splitlines():
        if line.startswith('govhub_bus_connected{service="registry"}'):
            return line.rsplit(" ", 1)[1]
    return None


async def test_readiness_reports_the_broker_down_while_it_cannot_be_reached(
    fresh_db_url: str, amqp_url: str
) -> None:
    vhost = f"govhub-test-{uuid.uuid4().hex[:8]}"
    await rabbitmqctl("add_vhost", vhost)
    await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    settings = CommonSettings(
        amqp_url=amqp_url.rstrip("/") + "/" + vhost, amqp_delete_queues_at_stop=True
    )
    try:
        async with running_hub(fresh_db_url, target="registry", settings=settings) as hub:
            ready_before = await hub.client.get("/registry/readyz")
            assert ready_before.status_code == 200
            assert ready_before.json() == {
                "status": "ok",
                "checks": {"database": "ok", "broker": "ok"},
            }
            assert bus_connected((await hub.client.get("/metrics")).text) == "1.0"

            # The broker refuses the hub until its permission is given back.
            await rabbitmqctl("clear_permissions", "-p", vhost, "guest")
            await rabbitmqctl("close_all_connections", "--vhost", vhost, "govhub test: outage")

            async def degraded() -> dict[str, str] | None:
                reply = await hub.client.get("/registry/readyz")
                # Still ready: the pod keeps serving while the broker is away.
                assert reply.status_code == 200, reply.text
                body = reply.json()
                return body["checks"] if body["status"] == "degraded" else None

            checks = await wait_for(degraded, timeout=30)
            assert checks["broker"].startswith("degraded:")
            assert checks["database"] == "ok"
            assert bus_connected((await hub.client.get("/metrics")).text) == "0.0"
            # Reads are still served meanwhile.
            assert (await hub.client.get("/registry/healthz")).status_code == 200

            await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

            async def ready() -> bool:
                reply = await hub.client.get("/registry/readyz")
                return reply.status_code == 200 and reply.json()["status"] == "ok"

            await wait_for(ready, timeout=60)
            assert bus_connected((await hub.client.get("/metrics")).text) == "1.0"
    finally:
        await rabbitmqctl("delete_vhost", vhost)
