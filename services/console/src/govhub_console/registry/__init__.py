"""The registry: conflicts between agencies and the review queue (operators)."""
