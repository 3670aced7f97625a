"""A city's files (docs/city.md) as the demo uses them: applied to the hub by `govhub apply`,
then read for what an agency's system knows of itself (its client's secret, the topics it
owns). The Guangzhou city ships in `guangzhou/` beside this module
(examples/cities/guangzhou links to it)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from rich.console import Console

from govhub_common.city.format import Document, load_city
from govhub_common.city.run import DONE, apply_documents
from govhub_common.files import private_directory, write_private
from govhub_common.hub_urls import hub_client
from govhub_demo.client import HubClient, HubError

GUANGZHOU = Path(__file__).with_name("guangzhou")


class CityFiles:
    def __init__(self, directory: Path, secrets_dir: Path) -> None:
        self.directory = directory
        self.secrets_dir = secrets_dir
        self.documents: list[Document] = load_city(directory)

    def specs(self, kind: str) -> list[dict[str, Any]]:
        return [d.spec for d in self.documents if d.kind.name == kind]

    def topic_owners(self) -> dict[str, str]:
        return {spec["code"]: spec["owner"] for spec in self.specs("Topic")}

    async def apply(self, hub: HubClient) -> str:
        """`govhub apply -f DIRECTORY --url HUB --secrets-dir SECRETS` as the operator;
        returns its last line (what it changed). A thread: the hub may serve in this loop."""
        token = await hub.token("operator")
        output = io.StringIO()
        console = Console(file=output, width=200, soft_wrap=True)

        def run() -> int:
            with hub_client(hub.url, headers={"Authorization": f"Bearer {token}"}) as client:
                return apply_documents(
                    client,
                    self.documents,
                    me_client="operator",
                    secrets_dir=self.secrets_dir,
                    out=console,
                    err=console,
                )

        if await asyncio.to_thread(run) != DONE:
            raise HubError(f"govhub apply -f {self.directory} failed:\n{output.getvalue()}")
        return output.getvalue().strip().splitlines()[-1]

    async def credentials(self, hub: HubClient) -> dict[str, tuple[str, str]]:
        """Each agency's client id and secret: the one `govhub apply` wrote when it created
        the client, or (a client created before, whose secret this machine lacks) a new
        one from rotating it."""
        found: dict[str, tuple[str, str]] = {}
        for spec in self.specs("Client"):
            client_id, agency = spec["client_id"], spec["agency"]
            path = self.secrets_dir / f"{client_id}.secret"
            if path.exists():
                secret = path.read_text(encoding="utf-8").strip()
            else:
                rotated = await hub.call(
                    "POST", f"/exchange/v1/agencies/{agency}/clients/{client_id}/rotate"
                )
                secret = rotated.json()["client_secret"]
                write_private(private_directory(self.secrets_dir) / path.name, secret + "\n")
            found.setdefault(agency, (client_id, secret))
        return found
