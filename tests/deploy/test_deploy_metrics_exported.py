"""Every metric a dashboard panel or an alert rule queries is exported by the running hub."""

from __future__ import annotations

import re

from govhub_common.testing import Hub
from tests.deploy.metric_names import family, queried_metric_names

_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)


async def test_the_running_hub_exports_every_queried_metric(hub: Hub) -> None:
    # Some traffic first, so request metrics have samples.
    for prefix in ("/registry", "/exchange", "/alerting", "/sms"):
        assert (await hub.client.get(f"{prefix}/healthz")).status_code == 200
        await hub.client.get(f"{prefix}/v1/whoami")
    text = (await hub.client.get("/metrics")).text
    exported = {}
    for name, kind in _TYPE.findall(text):
        # prometheus-client declares a counter `x_total` as family `x`.
        exported[name + "_total" if kind == "counter" and not name.endswith("_total") else name] = (
            kind
        )
    queried = {family(name) for name in queried_metric_names()} - {"up"}
    missing = sorted(name for name in queried if name not in exported)
    assert not missing, f"queried by dashboards or alert rules but not exported: {missing}"
    assert (
        'govhub_http_requests_total{method="GET",route="/sms/healthz",service="sms-gateway",status="200"}'
        in text
    )
