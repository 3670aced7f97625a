"""Alerting rules: read, enable/disable, dry run, backfill (operators)."""
