"""The declared mapping from exchange topics to registry subjects (validated).

One topic's mapping (`TopicMapping`) is what the registry's API creates and versions
(govhub_registry.mappings); a city's files (GOVHUB_CITY_FILES) hold them as RegistryMapping
documents, applied at every start (examples/cities/guangzhou/registry-mappings.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from govhub_common.city.format import validated_specs
from govhub_common.clock import business_date
from govhub_common.identifiers import is_valid_ric, is_valid_uscc, normalize_mobile
from govhub_common.inputs import INTEGER_MAX, NO_NUL

SubjectKind = Literal["legal_entity", "person"]
# A data item's name, an attribute's name, a constant: text PostgreSQL can hold.
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]
Value = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]


class AttributeRule(BaseModel):
    """Where an attribute's value comes from: a field, a constant, or a field read through
    a table of values (with a default)."""

    model_config = ConfigDict(extra="forbid")

    field: Name | None = None
    value: Value | None = None
    values: dict[Value, Value] | None = None
    default: Value | None = None
    rank: int = Field(ge=0, le=INTEGER_MAX)
    type: Literal["text", "mobile"] = "text"

    @model_validator(mode="after")
    def _one_source(self) -> AttributeRule:
        if (self.field is None) == (self.value is None):
            raise ValueError("give exactly one of `field` or `value`")
        return self


class FactRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["registration", "deregistration", "death", "benefit"]
    registration: Name | None = None  # the registration kind (business_licence, pension ...)
    reference: Name | None = None  # field holding the agency's own number
    start_date: Name | None = None
    end_date: Name | None = None
    date: Name | None = None
    details: list[Name] = Field(default=[], max_length=100)

    @model_validator(mode="after")
    def _complete(self) -> FactRule:
        if self.kind != "death" and not self.registration:
            raise ValueError(f"a {self.kind} fact names its `registration` kind")
        if self.kind in ("death", "benefit") and not self.date:
            raise ValueError(f"a {self.kind} fact names its `date` field")
        return self


class TopicMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: SubjectKind
    key: Name
    valid_from: Name | None = None  # date field; the record's business time otherwise
    attributes: dict[Name, AttributeRule] = {}
    fact: FactRule | None = None


class DerivedFromId(BaseModel):
    rank: int = 0
    source: str = "gb11643"


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    derived_from_id: DerivedFromId = DerivedFromId()
    topics: dict[str, TopicMapping]


def load_mapping(path: Path) -> Mapping:
    """The RegistryMapping documents of a city's files (a folder or one file), validated; a
    mistake raises InvalidCity, naming its place, and stops the start."""
    from govhub_registry.mappings.schemas import MappingCreate

    specs = validated_specs(path, "RegistryMapping", MappingCreate.model_validate)
    return Mapping(
        topics={
            spec.topic: TopicMapping.model_validate(spec.model_dump(exclude={"topic"}))
            for _origin, spec in specs
        }
    )


class Unmappable(ValueError):
    """A record the mapping cannot turn into facts; kept with this reason."""


@dataclass(slots=True)
class MappedRecord:
    topic: str
    subject_kind: SubjectKind
    key: str | None
    key_valid: bool
    seq: int
    agency: str
    valid_from: date
    data: dict[str, Any]
    record: dict[str, Any]
    attributes: dict[str, tuple[Any, int]] = field(default_factory=dict)
    derived: dict[str, tuple[Any, int]] = field(default_factory=dict)


def key_is_valid(kind: SubjectKind, key: str | None) -> bool:
    """GB 32100 / GB 11643 check characters (govhub_common's validators)."""
    if not key:
        return False
    return is_valid_uscc(key) if kind == "legal_entity" else is_valid_ric(key)


def parse_date(data: dict[str, Any], name: str, where: str) -> date:
    raw = data.get(name)
    try:
        return date.fromisoformat(str(raw))
    except (TypeError, ValueError):
        raise Unmappable(f"{where}.{name}: expected an ISO date, got {raw!r}") from None


def map_record(
    topic: str,
    rule: TopicMapping,
    record: dict[str, Any],
    *,
    agency: str,
    where: str,
    derived: DerivedFromId,
) -> MappedRecord:
    """One exchange record -> its attributes with ranks; raises Unmappable."""
    data = record.get("data")
    if not isinstance(data, dict):
        raise Unmappable(f"{where}.data: expected an object")
    seq = record.get("seq")
    if not isinstance(seq, int):
        raise Unmappable(f"{where}.seq: expected an integer")
    raw_key = data.get(rule.key)
    key = raw_key.strip().upper() if isinstance(raw_key, str) and raw_key.strip() else None
    if rule.valid_from:
        valid_from = parse_date(data, rule.valid_from, f"{where}.data")
    else:
        valid_from = _business_date(record, where)
    mapped = MappedRecord(
        topic=topic,
        subject_kind=rule.subject,
        key=key,
        key_valid=key_is_valid(rule.subject, key),
        seq=seq,
        agency=agency,
        valid_from=valid_from,
        data=data,
        record=record,
    )
    attributes = mapped.attributes
    for name, source, constant, table, default, rank, is_mobile in _attribute_plan(rule):
        value: Any
        if constant is not None:
            value = constant
        else:
            value = data.get(source)
            if table is not None:
                fallback = default if default is not None else value
                value = table.get(str(value), fallback) if value is not None else default
            if value is None or value == "":
                continue
            if is_mobile:
                value = _mobile(value, f"{where}.data.{source}")
        attributes[name] = (value, rank)
    if rule.fact:
        for date_field in (rule.fact.start_date, rule.fact.end_date, rule.fact.date):
            if date_field:
                parse_date(data, date_field, f"{where}.data")
    if rule.subject == "person" and mapped.key_valid and key:
        # The ID number itself states sex and birth date; where a record states them too,
        # both claims are kept, so a mismatch shows as a conflict.
        from_id = {"birth_date": f"{key[6:10]}-{key[10:12]}-{key[12:14]}", "sex": _sex_of(key)}
        for name, value in from_id.items():
            if name in mapped.attributes:
                mapped.derived[name] = (value, derived.rank)
    return mapped


_AttributeStep = tuple[str, str, str | None, dict[str, str] | None, str | None, int, bool]
_plans: dict[int, tuple[TopicMapping, list[_AttributeStep]]] = {}


def _attribute_plan(rule: TopicMapping) -> list[_AttributeStep]:
    """A topic's attribute rules as plain tuples, read once per record without the model."""
    held = _plans.get(id(rule))
    if held is None or held[0] is not rule:
        steps = [
            (name, a.field or "", a.value, a.values, a.default, a.rank, a.type == "mobile")
            for name, a in rule.attributes.items()
        ]
        held = _plans[id(rule)] = (rule, steps)
    return held[1]


def _mobile(value: Any, where: str) -> str:
    text = str(value)
    # The usual form, 11 ASCII digits, without the regular expressions (once per record).
    if (
        len(text) == 11
        and text.isascii()
        and text.isdigit()
        and text[0] == "1"
        and text[1] in "3456789"
    ):
        return "+86" + text
    try:
        return normalize_mobile(text)
    except ValueError as exc:
        raise Unmappable(f"{where}: {exc}") from None


def _sex_of(id_number: str) -> str:
    return "male" if int(id_number[16]) % 2 else "female"


def _business_date(record: dict[str, Any], where: str) -> date:
    for name in ("business_time", "published_at"):
        raw = record.get(name)
        if isinstance(raw, str):
            try:
                return _business_date_of(raw)
            except ValueError:
                raise Unmappable(f"{where}.{name}: expected an ISO date-time") from None
    raise Unmappable(f"{where}.business_time: missing")


@lru_cache(maxsize=4096)
def _business_date_of(raw: str) -> date:
    """The Asia/Shanghai date of an ISO date-time (a batch repeats few of them)."""
    return business_date(datetime.fromisoformat(raw.replace("Z", "+00:00")))
