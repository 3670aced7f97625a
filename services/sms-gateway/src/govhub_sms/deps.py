"""Dependencies shared by the SMS gateway's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from govhub_common.runtime import ContextDep, service_settings
from govhub_common.security import Principal, require_scope
from govhub_sms.settings import SmsSettings

Context = ContextDep
Settings = Annotated[SmsSettings, Depends(service_settings)]
Sender = Annotated[Principal, Depends(require_scope("sms:send"))]
