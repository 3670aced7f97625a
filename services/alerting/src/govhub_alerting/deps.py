"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from govhub_alerting.settings import AlertingSettings
from govhub_common.runtime import ServiceContext
from govhub_common.security import Principal, require_scope

Reader = Annotated[Principal, Depends(require_scope("alerting:read", "alerting:work"))]
Worker = Annotated[Principal, Depends(require_scope("alerting:work"))]


def _context(request: Request) -> Any:
    return request.app.state.context


def _settings(request: Request) -> Any:
    return request.app.state.settings


Context = Annotated[ServiceContext, Depends(_context)]
Settings = Annotated[AlertingSettings, Depends(_settings)]
