"""The delivery status of the reminders alerting emitted, from the SMS gateway's
`sms.message.status_changed` events (consumer group `alerting.deliveries`).

Only the messages of reminders alerting emitted matter (their idempotency keys are in
alerting.reminders; every other message the gateway sends is dropped in the statement). The
newest change wins, by the gateway's `changed_at`, so a change redelivered or arriving after
a newer one does not bring an old status back. The first message reported under a key is
the reminder's: a message another sender submitted later under the same key is ignored.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.event_contracts import read_batch
from govhub_common.event_contracts.sms import MessagesChanged, MessageStatus
from govhub_common.events import CloudEvent

STATUS_CHANGED = "sms.message.status_changed"

LEARN_STATUSES = """
INSERT INTO alerting.reminder_deliveries (idempotency_key, message_id, status, reason,
    changed_at)
SELECT DISTINCT ON (x.idempotency_key) x.idempotency_key, x.id, x.status, x.reason,
    x.changed_at
FROM jsonb_to_recordset(CAST(:messages AS jsonb)) AS x(id text, idempotency_key text,
    status text, reason text, changed_at timestamptz)
JOIN alerting.reminders r ON r.idempotency_key = x.idempotency_key
ORDER BY x.idempotency_key, x.changed_at DESC
ON CONFLICT (idempotency_key) DO UPDATE SET status = EXCLUDED.status,
    reason = EXCLUDED.reason, changed_at = EXCLUDED.changed_at, updated_at = now()
WHERE reminder_deliveries.message_id = EXCLUDED.message_id
  AND reminder_deliveries.changed_at <= EXCLUDED.changed_at
"""


async def learn_statuses(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the latest status of each reminder's message in the event (one statement)."""
    changed = read_batch(event, MessagesChanged, "messages", MessageStatus)
    if not changed.items:
        return
    messages = [m.model_dump(mode="json", exclude={"template"}) for m in changed.items]
    await session.execute(sa.text(LEARN_STATUSES), {"messages": orjson.dumps(messages).decode()})
