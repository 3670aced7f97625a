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
# The tests' webhook receivers listen on 127.0.0.1, which the default policy denies: the
# hub is told to allow that one address, as an operator allows an internal endpoint.
os.environ.setdefault("GOVHUB_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32")
