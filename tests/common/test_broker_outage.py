"""/readyz follows the real broker connection: down while RabbitMQ cannot be reached (the
robust connection is reconnecting, not closed), up again once it is back."""

from __future__ import annotations

import uuid

from govhub_common.settings import CommonSettings
from govhub_common.testing import rabbitmqctl, running_hub, wait_for


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
            assert (await hub.client.get("/registry/readyz")).status_code == 200

            # The broker refuses the hub until its permission is given back.
            await rabbitmqctl("clear_permissions", "-p", vhost, "guest")
            await rabbitmqctl("close_all_connections", "--vhost", vhost, "govhub test: outage")

            async def unready() -> dict[str, str] | None:
                reply = await hub.client.get("/registry/readyz")
                return reply.json()["checks"] if reply.status_code == 503 else None

            checks = await wait_for(unready, timeout=30)
            assert checks["broker"].startswith("failed")
            assert checks["database"] == "ok"

            await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

            async def ready() -> bool:
                return (await hub.client.get("/registry/readyz")).status_code == 200

            await wait_for(ready, timeout=60)
    finally:
        await rabbitmqctl("delete_vhost", vhost)
