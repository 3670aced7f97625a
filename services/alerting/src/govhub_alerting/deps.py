"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from govhub_alerting.settings import AlertingSettings
from govhub_common.runtime import ContextDep, service_settings
from govhub_common.security import Principal, require_scope

Reader = Annotated[Principal, Depends(require_scope("alerting:read", "alerting:work"))]
Worker = Annotated[Principal, Depends(require_scope("alerting:work"))]


Context = ContextDep
Settings = Annotated[AlertingSettings, Depends(service_settings)]
