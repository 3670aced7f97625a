"""Exchange test settings, pinned before the session hub starts (fast webhook retries)."""

from __future__ import annotations

import os

# Fast webhook retries for the tests (read when the session hub starts).
os.environ.setdefault("GOVHUB_WEBHOOK_BACKOFF_BASE_SECONDS", "0.05")
os.environ.setdefault("GOVHUB_WEBHOOK_BACKOFF_MAX_SECONDS", "0.2")
os.environ.setdefault("GOVHUB_WEBHOOK_MAX_ATTEMPTS", "3")
os.environ.setdefault("GOVHUB_WEBHOOK_TIMEOUT_SECONDS", "3")
os.environ.setdefault("GOVHUB_WEBHOOK_POLL_SECONDS", "0.1")
os.environ.setdefault("GOVHUB_LAG_REFRESH_SECONDS", "0.2")
os.environ.setdefault("GOVHUB_AUDIT_DELIVERY_SECONDS", "0.2")
