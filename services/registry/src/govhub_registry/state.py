"""What one registry process keeps between requests and events: made with its context
(ServiceSpec.state), one typed object instead of a dict of names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from govhub_common.runtime import ServiceContext
from govhub_registry.ingest.mapping import DerivedFromId
from govhub_registry.mappings.service import MappingStore

if TYPE_CHECKING:
    from govhub_registry.access.policy import AccessPolicy


@dataclass
class RegistryState:
    # The topics' mappings as ingest and the routes read them (parsed once per version).
    mapping: MappingStore = field(
        default_factory=lambda: MappingStore(derived_from_id=DerivedFromId())
    )
    access_policy: AccessPolicy = field(init=False)  # read at start
    # Lookups by ID: a plain asyncpg pool, opened at start (lookup/service.py says why).
    lookup_pool: Any = field(init=False)


def make_state(ctx: ServiceContext) -> RegistryState:
    return RegistryState()


def registry_state(ctx: ServiceContext) -> RegistryState:
    state: RegistryState = ctx.state
    return state
