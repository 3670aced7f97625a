"""The registry service as the runtime hosts it (entry point `govhub.services`)."""

from __future__ import annotations

from pathlib import Path

from govhub_common.service import ServiceSpec

from govhub_registry.settings import RegistrySettings

SCHEMA = "registry"

SERVICE = ServiceSpec(
    name="registry",
    prefix="/registry",
    schema=SCHEMA,
    title="registry",
    description="Natural-person and legal-entity base registries (自然人、法人基础数据库).",
    version="0.1.0",
    migrations=Path(__file__).parent / "migrations",
    settings_class=RegistrySettings,
)
