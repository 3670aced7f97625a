"""The audit log: search, verification and export (operators)."""
