"""SMS templates: list, text, preview render (operators)."""
