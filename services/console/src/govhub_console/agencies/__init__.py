"""Agencies and their clients (operators)."""
