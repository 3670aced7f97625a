"""What a topic's JSON Schema must look like, and how versions may evolve."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema_rs

from govhub_common.identifiers import FORMAT_CHECKERS as RECORD_FORMATS
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
SENSITIVITY_LEVELS = ("public", "internal", "sensitive", "confidential")

# What the top of a topic schema may say (besides `x-` annotations): a record is its
# declared data items and nothing else. Keywords that could let a record carry a field no
# data item declares (patternProperties, unevaluatedProperties, dependentSchemas, if/then/
# else, allOf/anyOf/oneOf, $ref ...) are refused rather than reasoned about: such a field
# would appear in no data-item list and so in no subscriber's grant. Inside a data item
# any keyword is allowed: the item is granted or withheld as a whole.
TOP_LEVEL_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "examples",
        "deprecated",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "dependentRequired",
    }
)


def _fault(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message}


def normalise_topic_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Check a submitted schema and return the stored form (2020-12, closed object).

    Records are closed objects (additionalProperties false, no keyword that admits other
    fields) so that a subscriber's grant covers every field it can ever receive.
    """
    faults: list[dict[str, str]] = []
    schema = copy.deepcopy(schema)
    for keyword in schema:
        if keyword not in TOP_LEVEL_KEYWORDS and not keyword.startswith("x-"):
            faults.append(
                _fault(
                    f"$.schema.{keyword}",
                    "not allowed at the top of a topic schema: a record carries only the "
                    "data items declared in properties",
                )
            )
    if schema.get("additionalProperties", False) is not False:
        faults.append(
            _fault(
                "$.schema.additionalProperties", "must be false (or left out): records are closed"
            )
        )
    schema.setdefault("$schema", DRAFT_2020_12)
    if schema["$schema"] != DRAFT_2020_12:
        faults.append(_fault("$.schema.$schema", f"must be {DRAFT_2020_12}"))
    if schema.get("type") != "object":
        faults.append(_fault("$.schema.type", "must be object"))
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        faults.append(_fault("$.schema.properties", "must declare at least one data item"))
        properties = {}
    for name, item in properties.items():
        where = f"$.schema.properties.{name}"
        if not isinstance(item, dict):
            faults.append(_fault(where, "must be an object"))
            continue
        if not isinstance(item.get("title"), str) or not item["title"]:
            faults.append(_fault(f"{where}.title", "every data item needs a title"))
        item.setdefault("x-sensitivity", "internal")
        if item["x-sensitivity"] not in SENSITIVITY_LEVELS:
            faults.append(
                _fault(f"{where}.x-sensitivity", f"must be one of {', '.join(SENSITIVITY_LEVELS)}")
            )
        item.setdefault("x-personal", False)
        if not isinstance(item["x-personal"], bool):
            faults.append(_fault(f"{where}.x-personal", "must be true or false"))
    required = schema.get("required", [])
    if not isinstance(required, list) or any(r not in properties for r in required):
        faults.append(_fault("$.schema.required", "must list declared data items only"))
    schema["additionalProperties"] = False
    if not faults:
        try:
            jsonschema_rs.meta.validate(schema)
            compile_validator(schema)
        except (jsonschema_rs.ValidationError, ValueError) as exc:
            faults.append(_fault("$.schema", f"not a valid JSON Schema: {exc}".splitlines()[0]))
    if faults:
        raise Problem(
            ProblemCode.INVALID_TOPIC_SCHEMA,
            f"the topic schema is not acceptable: {faults[0]['path']}: {faults[0]['message']}",
            errors=faults,
        )
    return schema


def check_evolution(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A new version may only add optional data items."""
    faults: list[dict[str, str]] = []
    old_props, new_props = old["properties"], new["properties"]
    for name, definition in old_props.items():
        if name not in new_props:
            faults.append(_fault(f"$.schema.properties.{name}", "a data item cannot be removed"))
        elif new_props[name] != definition:
            faults.append(_fault(f"$.schema.properties.{name}", "a data item cannot be changed"))
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(new_required - old_required):
        faults.append(_fault("$.schema.required", f"new item {name} must be optional"))
    for name in sorted(old_required - new_required):
        faults.append(_fault("$.schema.required", f"item {name} cannot become optional"))
    # A topic stored before a keyword was refused may drop it in its next version.
    rest_old = {
        k: v
        for k, v in old.items()
        if k not in ("properties", "required")
        and (k in TOP_LEVEL_KEYWORDS or k.startswith("x-") or k in new)
    }
    rest_new = {k: v for k, v in new.items() if k not in ("properties", "required")}
    if rest_old != rest_new:
        faults.append(_fault("$.schema", "only properties may be added in a new version"))
    if not set(new_props) - set(old_props) and not faults:
        faults.append(_fault("$.schema.properties", "a new version must add a data item"))
    if faults:
        raise Problem(
            ProblemCode.INCOMPATIBLE_SCHEMA_VERSION,
            "a new version may only add optional data items",
            errors=faults,
        )


def compile_validator(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for(schema, formats=RECORD_FORMATS, validate_formats=True)


def data_items(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "title": item["title"],
            "type": item.get("type") if isinstance(item.get("type"), str) else None,
            "format": item.get("format"),
            "sensitivity": item["x-sensitivity"],
            "personal": item["x-personal"],
            "required": name in required,
        }
        for name, item in schema["properties"].items()
    ]
