"""The catalog: topics and data items, searched (operators)."""
