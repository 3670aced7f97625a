"""A shipped template changed through the API keeps the change across restarts (the API
wins, as for rules); one the API never touched still follows the startup file."""

from __future__ import annotations

import sqlalchemy as sa

from govhub_common.testing import running_hub

CHANGED = "tax_registration_reminder"
UNTOUCHED = "tax_registration_overdue"
CHANGED_BODY = "{name}：请于{deadline}前办理税务登记（城市改写）。"


async def test_a_shipped_template_changed_through_the_api_survives_a_restart(
    fresh_db_url: str,
) -> None:
    async with running_hub(fresh_db_url) as hub:
        changed = await hub.client.patch(
            f"/sms/v1/templates/{CHANGED}", json={"body": CHANGED_BODY}, headers=hub.operator()
        )
        assert changed.status_code == 200, changed.text
        shipped = (
            await hub.client.get(f"/sms/v1/templates/{UNTOUCHED}", headers=hub.operator())
        ).json()
        # As an older file had it: the next start installs the file's text again.
        async with hub.runtime.db.session() as session:
            await session.execute(
                sa.text("UPDATE sms.templates SET body = 'old {name}' WHERE code = :c"),
                {"c": UNTOUCHED},
            )
    async with running_hub(fresh_db_url) as hub:
        after = await hub.client.get(f"/sms/v1/templates/{CHANGED}", headers=hub.operator())
        assert after.status_code == 200
        assert after.json()["body"] == CHANGED_BODY
        assert after.json()["version"] == changed.json()["version"]
        untouched = await hub.client.get(f"/sms/v1/templates/{UNTOUCHED}", headers=hub.operator())
        assert untouched.json()["body"] == shipped["body"]
