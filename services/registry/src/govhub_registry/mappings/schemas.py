"""API models of topic mappings: one topic's mapping is the format of a mapping file's
entry under `topics`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from govhub_registry.fields import TOPIC_CODE
from govhub_registry.ingest.mapping import TopicMapping

MAPPING_EXAMPLE: dict[str, Any] = {
    "subject": "legal_entity",
    "key": "uscc",
    "valid_from": "established_date",
    "attributes": {
        "name": {"field": "name", "rank": 1},
        "mobile": {"field": "mobile", "rank": 1, "type": "mobile"},
        "status": {"value": "active", "rank": 1},
    },
    "fact": {
        "kind": "registration",
        "registration": "business_licence",
        "start_date": "established_date",
    },
}


class MappingCreate(TopicMapping):
    """A topic's mapping with the topic it maps."""

    topic: str = Field(pattern=TOPIC_CODE, description="The exchange topic's code.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"topic": "firm_opened", **MAPPING_EXAMPLE}]}
    )


_BY = "Who changed it: the operator agency, an operator in person (`<agency>/<person>`) or `file`."


class MappingPublic(BaseModel):
    topic: str
    version: int
    source: Literal["file", "api"] = Field(
        description="Where the current version came from: the mapping file at startup or the API."
    )
    updated_at: datetime
    updated_by: str = Field(description=_BY)
    definition: TopicMapping


class MappingVersion(BaseModel):
    version: int
    definition: TopicMapping | None = Field(
        description="The mapping of this version; null for a removal."
    )
    source: Literal["file", "api"]
    created_at: datetime
    created_by: str = Field(description=_BY)
