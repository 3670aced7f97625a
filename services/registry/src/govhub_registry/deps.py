"""Dependencies shared by the registry's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from govhub_common.db import SessionDep
from govhub_common.runtime import ContextDep, service_settings
from govhub_common.security import Principal, require_scope
from govhub_registry.access.policy import AccessPolicy
from govhub_registry.ingest.mapping import Mapping
from govhub_registry.settings import RegistrySettings
from govhub_registry.state import registry_state

Context = ContextDep
Settings = Annotated[RegistrySettings, Depends(service_settings)]
# Who may read the registries (the fast path admits the same scopes: lookup/fast_path.py).
read_access = require_scope("registry:read")
Reader = Annotated[Principal, Depends(read_access)]


# Async, like every dependency on a hot path: FastAPI runs a plain `def` in a worker thread,
# and the hand-over costs more than the lookup itself.
async def _policy(request: Request) -> AccessPolicy:
    return registry_state(request.app.state.context).access_policy


async def _mapping(request: Request, session: SessionDep) -> Mapping:
    """The current mappings, as stored (govhub_registry.mappings)."""
    store = registry_state(request.app.state.context).mapping
    return await store.snapshot(session)


PolicyDep = Annotated[AccessPolicy, Depends(_policy)]
MappingDep = Annotated[Mapping, Depends(_mapping)]
