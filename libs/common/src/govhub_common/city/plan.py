"""The difference between a city's files and a running hub: what `govhub apply` will do.

A field the files leave out is left as the hub has it (the hub fills in defaults, e.g. a
topic schema's `$schema` and each item's `x-sensitivity`), so a file is compared with the
hub's object field by field, nested objects key by key, lists of plain values as sets (the
hub sorts scopes and items) and other lists element by element."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from govhub_common.city.format import KINDS, Document
from govhub_common.city.state import Current, HubState

Verb = Literal["create", "update", "unchanged", "prune", "kept"]

# What pruning does to an object the files no longer name, per kind.
PRUNE = {
    "Agency": "disable",
    "Client": "disable",
    "Topic": None,  # the exchange keeps a topic (its log and subscribers' feeds) forever
    "Subscription": "revoke",
    "RegistryMapping": "delete",
    "AlertRule": "disable",
    "SmsTemplate": "deactivate",
}
# Fields a file may not change on an existing object (the hub offers no way to).
FIXED = {"Client": ("agency",), "Topic": ("owner",), "Subscription": ()}


@dataclass
class Action:
    kind: str
    key: str
    verb: Verb
    fields: list[str] = field(default_factory=list)  # what an update changes
    desired: dict[str, Any] | None = None
    current: Current | None = None
    origin: str = ""

    def describe(self) -> str:
        sign = {"create": "+", "update": "~", "prune": "-", "kept": "=", "unchanged": "="}
        text = f"{sign[self.verb]} {self.kind} {self.key}"
        if self.verb == "update":
            text += f": {', '.join(self.fields)}"
        elif self.verb == "prune":
            text += f" ({PRUNE[self.kind]})"
        elif self.verb == "kept":
            text += " (not in the files; a topic cannot be removed: kept)"
        return text


@dataclass
class Plan:
    actions: list[Action]
    problems: list[str]  # changes the hub cannot make (exit 2)

    def changes(self, *, prune: bool) -> list[Action]:
        verbs = {"create", "update"} | ({"prune"} if prune else set())
        return [a for a in self.actions if a.verb in verbs]

    def count(self, verb: str) -> int:
        return sum(1 for a in self.actions if a.verb == verb)


def covers(desired: Any, actual: Any) -> bool:
    """Does the hub's value already say what the file says?"""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(
            covers(v, actual.get(k)) for k, v in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(desired) != len(actual):
            return False
        if all(not isinstance(v, (dict, list)) for v in desired):
            return sorted(map(repr, desired)) == sorted(map(repr, actual))
        return all(covers(d, a) for d, a in zip(desired, actual, strict=True))
    if isinstance(desired, float) or isinstance(actual, float):
        return desired == actual
    return bool(desired == actual and type(desired) is type(actual))


def changed_fields(kind: str, desired: dict[str, Any], current: Current) -> list[str]:
    fields = [k for k, v in desired.items() if not covers(v, current.spec.get(k))]
    if kind == "Subscription":
        # A subscription left undecided in the files accepts any decision; one decided in
        # the files but still pending on the hub is a change of its decision.
        if "decision" in desired and current.status == "pending":
            fields = sorted(set(fields) | {"decision"})
        elif "decision" in fields and covers(
            {"approve": desired["decision"]["approve"]}, current.spec.get("decision")
        ):
            fields.remove("decision")  # the same decision, another reason: leave it
    if kind == "AlertRule":
        enabled = desired.get("enabled", True)
        fields = [f for f in fields if f != "enabled"]
        if enabled != current.active:
            fields.append("enabled")
    elif not current.active:
        fields.append("active")  # disabled (pruned) on the hub, named again in the files
    return fields


def make_plan(documents: list[Document], state: HubState, *, me_client: str | None) -> Plan:
    actions: list[Action] = []
    problems: list[str] = []
    for kind in KINDS:
        on_hub = state.objects[kind.name]
        named = set()
        for document in (d for d in documents if d.kind is kind):
            named.add(document.key)
            current = on_hub.get(document.key)
            if current is None:
                actions.append(
                    Action(
                        kind.name,
                        document.key,
                        "create",
                        desired=document.spec,
                        origin=document.origin,
                    )
                )
                continue
            fields = changed_fields(kind.name, document.spec, current)
            for fixed in FIXED.get(kind.name, ()):
                if fixed in fields:
                    problems.append(
                        f"{document.origin}: {kind.name} {document.key}: {fixed} cannot change "
                        f"(the hub has {current.spec.get(fixed)!r})"
                    )
            verb: Verb = "update" if fields else "unchanged"
            actions.append(
                Action(
                    kind.name, document.key, verb, fields, document.spec, current, document.origin
                )
            )
        for key, current in on_hub.items():
            if key in named or _is_the_caller(kind.name, key, current, state, me_client):
                continue
            if PRUNE[kind.name] is None:
                if current.spec.get("owner") == state.me_agency:
                    continue  # the hub's own topics (hub_warnings)
                actions.append(Action(kind.name, key, "kept", current=current))
            elif _prunable(kind.name, current):
                actions.append(Action(kind.name, key, "prune", current=current))
    return Plan(actions, problems)


def _is_the_caller(
    kind: str, key: str, current: Current, state: HubState, me_client: str | None
) -> bool:
    """The operator's own agency and client are the hub's, never the city's."""
    if kind == "Agency":
        return key == state.me_agency
    if kind == "Client":
        return key == me_client or current.spec["agency"] == state.me_agency
    return False


def _prunable(kind: str, current: Current) -> bool:
    if kind == "Subscription":
        return current.status in ("approved", "pending")
    if kind == "RegistryMapping":
        return True
    return current.active
