"""The registry's fast identifier check agrees with python-stdnum (via govhub_common)."""

from __future__ import annotations

import random
import string

from registry_helpers import break_check, make_ric, make_uscc

from govhub_registry.ingest.mapping import key_is_valid, key_is_valid_by_stdnum


def test_fast_key_check_agrees_with_stdnum() -> None:
    rng = random.Random(11)
    samples: list[tuple[str, str]] = []
    for _ in range(300):
        samples.append(("legal_entity", make_uscc()))
        samples.append(("person", make_ric()))
    samples += [(kind, break_check(key)) for kind, key in list(samples)]
    alphabet = string.digits + "XABCY"
    samples += [("person", "".join(rng.choice(alphabet) for _ in range(18))) for _ in range(300)]
    samples += [
        ("legal_entity", "".join(rng.choice(alphabet) for _ in range(18))) for _ in range(300)
    ]
    samples += [("person", "44010619900230123X"), ("legal_entity", "short")]
    disagreements = [
        (kind, key)
        for kind, key in samples
        if key_is_valid(kind, key) != key_is_valid_by_stdnum(kind, key)  # type: ignore[arg-type]
    ]
    assert disagreements == []
    assert sum(key_is_valid(k, v) for k, v in samples) >= 600  # type: ignore[arg-type]
