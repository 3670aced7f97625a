"""What a subscriber may receive of a record: its granted data items, and nothing else.

Every path that hands a record to a subscriber (the pull feed, an operator reading it,
webhooks, their retries and re-drives) projects it through `granted_data`, so the paths
cannot disagree. The projection is an allowlist: a key of the record that is not one of the
subscription's items is dropped, whether it is a declared item outside the grant or a field
no data item declares (a topic stored before its schema's rules closed every way to carry
one)."""

from __future__ import annotations


def granted_data(data: str, *, granted: str, declared: str) -> str:
    """SQL of the record's data (jsonb expression `data`) reduced to the keys in `granted`
    (a text[] expression: the subscription's items), given `declared` (text[]: every data
    item of the topic).

    The result is the allowlist's in every case; the CASE only picks the cheaper way to it.
    A record holding declared items only (every record of a topic with a closed schema)
    loses the declared items not granted: two jsonb `-` operations, with the withheld list
    computed once per statement where `granted` and `declared` are parameters. A record
    with any other key is rebuilt from its granted keys (five times slower, and only for
    topics stored before the schema rules)."""
    withheld = f"ARRAY(SELECT unnest({declared}) EXCEPT SELECT unnest({granted}))"
    allowlist = (
        f"{data} - ARRAY(SELECT k FROM jsonb_object_keys({data}) AS k WHERE k <> ALL({granted}))"
    )
    return (
        f"(CASE WHEN {data} - {declared} = '{{}}'::jsonb THEN {data} - {withheld} "
        f"ELSE {allowlist} END)"
    )
