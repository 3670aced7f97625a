"""The webhook test's settings, read when the session hub starts (after collection): the
same fast retries and local receiver as the exchange's tests (tests/exchange/conftest.py)."""

from __future__ import annotations

import os

os.environ.setdefault("GOVHUB_WEBHOOK_BACKOFF_BASE_SECONDS", "0.05")
os.environ.setdefault("GOVHUB_WEBHOOK_BACKOFF_MAX_SECONDS", "0.2")
os.environ.setdefault("GOVHUB_WEBHOOK_MAX_ATTEMPTS", "3")
os.environ.setdefault("GOVHUB_WEBHOOK_TIMEOUT_SECONDS", "3")
os.environ.setdefault("GOVHUB_WEBHOOK_POLL_SECONDS", "0.1")
os.environ.setdefault("GOVHUB_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32")
