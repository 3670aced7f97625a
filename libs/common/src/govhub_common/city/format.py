"""The city format: documents `{kind, spec}` whose spec is the public API's create body.

The JSON Schema of the format is derived from the services' OpenAPI documents (one
definition per shape): each kind's spec is its create operation's request schema, with the
identifying fields made required and the few fields the files add (a client's agency, a
subscription's decision). docs/city-format.schema.json is this schema, written with the
OpenAPI documents by `govhub openapi`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

T = TypeVar("T")
SCHEMA_ID = "https://govhub.example/city-format.schema.json"


@dataclass(frozen=True)
class Kind:
    name: str
    service: str
    component: str | None  # the create body's component schema (None: the operation's body)
    key: tuple[str, ...]  # the spec fields that name one object of the kind
    required: tuple[str, ...] = ()  # optional in the API, required in the files
    # Spec fields the files add to the create body: a client's agency (a path parameter of
    # its create call), a subscription's decision (the topic owner's, a call of its own).
    extra: dict[str, Any] = field(default_factory=dict)


# Dependency order: apply creates in this order and prunes in the reverse one.
KINDS: tuple[Kind, ...] = (
    Kind("Agency", "exchange", "AgencyCreate", ("code",)),
    Kind(
        "Client",
        "exchange",
        "ClientCreate",
        ("client_id",),
        required=("client_id", "agency"),
        extra={"agency": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,63}$"}},
    ),
    Kind("Topic", "exchange", "TopicCreate", ("code",), required=("owner",)),
    Kind(
        "Subscription",
        "exchange",
        "SubscriptionCreate",
        ("subscriber", "topic"),
        required=("subscriber",),
        extra={"decision": {"$ref": "#/$defs/exchange.Decision"}},
    ),
    Kind("RegistryMapping", "registry", "MappingCreate", ("topic",)),
    Kind("AlertRule", "alerting", None, ("id",)),
    Kind("SmsTemplate", "sms-gateway", "TemplateCreate", ("code",)),
)
KIND_BY_NAME = {kind.name: kind for kind in KINDS}
_RULE_OPERATION = ("/v1/rules", "post")


def build_schema(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The format's JSON Schema from the services' OpenAPI documents (by service name)."""
    defs: dict[str, Any] = {}
    for service, document in documents.items():
        prefix = f"#/$defs/{service}."
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            text = json.dumps(schema).replace("#/components/schemas/", prefix)
            defs[f"{service}.{name}"] = json.loads(text)
    branches = []
    for kind in KINDS:
        if kind.component is None:
            path, method = _RULE_OPERATION
            body = documents[kind.service]["paths"][path][method]["requestBody"]
            spec = copy.deepcopy(body["content"]["application/json"]["schema"])
            spec.pop("discriminator", None)  # OpenAPI's, not JSON Schema's
            text = json.dumps(spec).replace("#/components/schemas/", f"#/$defs/{kind.service}.")
            spec = json.loads(text)
        else:
            spec = copy.deepcopy(defs[f"{kind.service}.{kind.component}"])
            spec.pop("examples", None)
            spec.setdefault("properties", {}).update(kind.extra)
            spec["required"] = sorted(set(spec.get("required", [])) | set(kind.required))
            for name in kind.required:  # required in the files: no null
                prop = spec["properties"][name]
                if "anyOf" in prop:
                    spec["properties"][name] = next(
                        b for b in prop["anyOf"] if b.get("type") != "null"
                    )
        defs[f"city.{kind.name}"] = spec
        branches.append(
            {
                "if": {"properties": {"kind": {"const": kind.name}}},
                "then": {"properties": {"spec": {"$ref": f"#/$defs/city.{kind.name}"}}},
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "govhub city",
        "description": "One document of a city's files (docs/city.md): a kind and the spec "
        "its public API creates it from.",
        "type": "object",
        "required": ["kind", "spec"],
        "additionalProperties": False,
        "properties": {
            "kind": {"enum": [kind.name for kind in KINDS]},
            "spec": {"type": "object"},
        },
        "allOf": branches,
        "$defs": defs,
    }


@cache
def city_schema() -> dict[str, Any]:
    """The format's schema from the installed services' OpenAPI documents (built, not run)."""
    from govhub_common.openapi_documents import service_documents

    return build_schema(service_documents())


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@dataclass
class Document:
    kind: Kind
    spec: dict[str, Any]
    origin: str  # "file.yaml#3": where an error points

    @property
    def key(self) -> str:
        return key_of(self.kind, self.spec)


def key_of(kind: Kind, spec: dict[str, Any]) -> str:
    return "/".join(str(spec.get(part)) for part in kind.key)


class InvalidCity(Exception):
    """The files do not describe a city: every fault, each naming its file and JSON path."""

    def __init__(self, faults: list[str]) -> None:
        super().__init__("\n".join(faults))
        self.faults = faults


def _json_path(parts: Iterable[Any]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def city_files(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".json")
    )


def load_city(directory: Path, schema: dict[str, Any] | None = None) -> list[Document]:
    """Every document of the files under `directory`, checked against the format's schema;
    InvalidCity names each fault's file, document and JSON path."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema or city_schema())
    faults: list[str] = []
    documents: list[Document] = []
    seen: dict[tuple[str, str], str] = {}
    files = city_files(directory)
    if not files:
        raise InvalidCity([f"{directory}: no .yaml, .yml or .json files"])
    for path in files:
        try:
            loaded = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            faults.append(f"{path}: not YAML: {exc}")
            continue
        for index, raw in enumerate(d for d in loaded if d is not None):
            origin = f"{path}#{index + 1}" if len(loaded) > 1 else str(path)
            errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
            if errors:
                faults += [
                    f"{origin}: {_json_path(e.absolute_path)}: {e.message}"
                    for e in _leaf_errors(errors)
                ]
                continue
            document = Document(KIND_BY_NAME[raw["kind"]], raw["spec"], origin)
            name = (document.kind.name, document.key)
            if name in seen:
                faults.append(
                    f"{origin}: {document.kind.name} {document.key} already in {seen[name]}"
                )
                continue
            seen[name] = origin
            documents.append(document)
    if faults:
        raise InvalidCity(faults)
    return documents


def kind_specs(path: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """The specs of one kind in a city's files (a folder or one file), each with where it is
    ("file.yaml#3"): what a service installs from GOVHUB_CITY_FILES at its start. Only the
    documents' frame is checked here; each service validates its specs with its own API
    models (the format's full schema needs every service's). InvalidCity names each fault."""
    faults: list[str] = []
    found: list[tuple[str, dict[str, Any]]] = []
    files = city_files(path)
    if not files:
        raise InvalidCity([f"{path}: no .yaml, .yml or .json files"])
    for file in files:
        try:
            loaded = [d for d in yaml.safe_load_all(file.read_text(encoding="utf-8")) if d]
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            faults.append(f"{file}: not YAML: {exc}")
            continue
        for index, raw in enumerate(loaded):
            origin = f"{file}#{index + 1}" if len(loaded) > 1 else str(file)
            if not isinstance(raw, dict) or raw.get("kind") not in KIND_BY_NAME:
                faults.append(f"{origin}: $.kind: not one of {', '.join(KIND_BY_NAME)}")
            elif not isinstance(raw.get("spec"), dict):
                faults.append(f"{origin}: $.spec: an object is required")
            elif raw["kind"] == kind:
                found.append((origin, raw["spec"]))
    if faults:
        raise InvalidCity(faults)
    return found


def catalog_of(path: Path) -> list[dict[str, Any]]:
    """A city's topics as the exchange's catalog events carry them (govhub_common.
    catalog_events), for a service's tests and benchmarks that run without the exchange."""
    return [
        {
            "code": spec["code"],
            "owner": spec["owner"],
            "title": spec.get("title", spec["code"]),
            "sharing_type": spec.get("sharing_type", "conditional"),
            "current_version": 1,
            "items": [{"name": name} for name in spec["schema"].get("properties", {})],
        }
        for _origin, spec in kind_specs(path, "Topic")
    ]


def validated_specs(
    path: Path, kind: str, validate: Callable[[dict[str, Any]], T]
) -> list[tuple[str, T]]:
    """kind_specs, each validated (`validate` is a service's API model's model_validate);
    InvalidCity names every fault's document and JSON path, so a mistake stops the start."""
    faults: list[str] = []
    valid: list[tuple[str, T]] = []
    for origin, spec in kind_specs(path, kind):
        try:
            valid.append((origin, validate(spec)))
        except pydantic.ValidationError as exc:
            faults += [
                f"{origin}: {_json_path(['spec', *error['loc']])}: {error['msg']}"
                for error in exc.errors()
            ]
        except ValueError as exc:  # a service's own check, its message naming the path
            faults.append(f"{origin}: spec: {exc}")
    if faults:
        raise InvalidCity(faults)
    return valid


def _leaf_errors(errors: list[Any]) -> list[Any]:
    """The most precise error of each branch (an `if/then` or `oneOf` wraps the real one)."""
    leaves: list[Any] = []
    for error in errors:
        if error.context:
            best = max(error.context, key=lambda e: len(list(e.absolute_path)))
            leaves.append(best)
        else:
            leaves.append(error)
    return leaves


def dump_documents(documents: list[tuple[str, dict[str, Any]]]) -> str:
    """YAML text of (kind, spec) documents, one after the other."""
    return yaml.safe_dump_all(
        [{"kind": kind, "spec": spec} for kind, spec in documents],
        allow_unicode=True,
        sort_keys=False,
        width=100,
    )
