"""/console/clients: a data steward sees their agency's clients only and rotates a
secret after a confirmation; the new secret is shown once, in the rotation's own answer,
and works while the old one stops. Another agency's client: the API's 403."""

from __future__ import annotations

import re

import httpx

from govhub_common.testing import Hub
from tests.console.subscriptions.support import (
    csrf_of,
    make_client,
    new_agency,
    sign_in_steward,
    text_of,
    token_of,
)

SECRET = re.compile(r'<code class="client-secret">([^<]+)</code>')


async def test_a_steward_rotates_their_clients_secret_shown_once(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    agency = await sign_in_steward(hub, client, username)
    mine = await make_client(hub, agency, "exchange:publish")
    other = await new_agency(hub, "gz-ltax-", "广州市地方税务局")
    theirs = await make_client(hub, other, "exchange:subscribe")

    listing = await client.get("/console/clients")
    assert listing.status_code == 200, listing.text
    assert mine["client_id"] in listing.text and "exchange:publish" in listing.text
    assert theirs["client_id"] not in listing.text
    assert mine["client_secret"] not in listing.text
    rotate_href = f"/console/clients/{agency}/{mine['client_id']}/rotate"
    assert f'href="{rotate_href}"' in listing.text

    confirm = await client.get(rotate_href)
    assert confirm.status_code == 200
    assert "确定轮换吗" in text_of(confirm.text)
    # Nothing changes until the confirmation is submitted.
    assert (await token_of(hub, mine["client_id"], mine["client_secret"])).status_code == 200

    done = await client.post(rotate_href, data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 200, done.text
    assert "no-store" in done.headers["cache-control"]
    assert "set-cookie" not in done.headers
    match = SECRET.search(done.text)
    assert match, done.text
    secret = match.group(1)
    assert "只显示这一次" in text_of(done.text)

    assert (await token_of(hub, mine["client_id"], mine["client_secret"])).status_code == 401
    assert (await token_of(hub, mine["client_id"], secret)).status_code == 200
    # Not shown again anywhere.
    again = await client.get("/console/clients")
    assert secret not in again.text
    assert "从未轮换" not in text_of(again.text.split(mine["client_id"])[1].split("</tr>")[0])


async def test_another_agencys_client_answers_the_apis_refusal(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_steward(hub, client, username)
    other = await new_agency(hub, "gz-ltax-", "广州市地方税务局")
    theirs = await make_client(hub, other, "exchange:subscribe")
    href = f"/console/clients/{other}/{theirs['client_id']}/rotate"

    # The confirmation page reads the agency's clients: the API refuses.
    assert (await client.get(href)).status_code == 403
    # A forged form: the API's 403, on a page, and the secret unchanged.
    listing = await client.get("/console/clients")
    forged = await client.post(href, data={"csrf": csrf_of(listing.text)})
    assert forged.status_code == 403
    assert 'role="alert"' in forged.text and "HTTP 403" in text_of(forged.text)
    assert (await token_of(hub, theirs["client_id"], theirs["client_secret"])).status_code == 200
    # Without the page's token nothing reaches the API.
    refused = await client.post(href, data={})
    assert refused.status_code == 403
    assert "接口拒绝" not in text_of(refused.text)
