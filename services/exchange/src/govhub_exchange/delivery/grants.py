"""What a subscriber may receive of a record: its granted data items, and nothing else.

Every path that hands a record to a subscriber (the pull feed, webhooks, their retries and
re-drives) projects it through `granted_data`, so the paths cannot disagree. The projection
is an allowlist: a key of the record that is not one of the subscription's items is dropped,
whether it is a declared item outside the grant or a field no data item declares (a topic
stored before its schema's rules closed every way to carry one)."""

from __future__ import annotations


def granted_data(data: str, items: str) -> str:
    """SQL of the record's data (jsonb expression `data`) reduced to the keys listed in
    `items` (a text[] expression: the subscription's granted data items).

    Written as "remove every key not granted" rather than rebuilding the object from the
    granted keys: the record's jsonb is kept as it is, and in the usual case (every key
    granted) nothing is removed."""
    return f"({data} - ARRAY(SELECT k FROM jsonb_object_keys({data}) AS k WHERE k <> ALL({items})))"
