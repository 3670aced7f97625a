"""A running hub's configuration written in the city format, one file per kind."""

from __future__ import annotations

from pathlib import Path

from govhub_common.city.format import KINDS, dump_documents
from govhub_common.city.state import HubState

FILE_NAMES = {
    "Agency": "agencies.yaml",
    "Client": "clients.yaml",
    "Topic": "topics.yaml",
    "Subscription": "subscriptions.yaml",
    "RegistryMapping": "registry-mappings.yaml",
    "AlertRule": "alert-rules.yaml",
    "SmsTemplate": "sms-templates.yaml",
}


def export_city(state: HubState, directory: Path, *, me_client: str | None) -> dict[str, int]:
    """Write every object the hub has (and the files would name) under `directory`: agencies
    and clients not disabled, subscriptions not revoked, templates active, every rule with
    its `enabled`. The caller's own agency and its clients are the hub's and stay out."""
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for kind in KINDS:
        documents = []
        for key in sorted(state.objects[kind.name]):
            current = state.objects[kind.name][key]
            if kind.name == "Agency" and key == state.me_agency:
                continue
            if kind.name == "Client" and (
                key == me_client or current.spec["agency"] == state.me_agency
            ):
                continue
            if kind.name != "AlertRule" and not current.active:
                continue
            documents.append((kind.name, current.spec))
        path = directory / FILE_NAMES[kind.name]
        if documents:
            path.write_text(dump_documents(documents), encoding="utf-8")
        elif path.exists():
            path.unlink()
        counts[kind.name] = len(documents)
    return counts
