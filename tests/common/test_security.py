import time

import pytest

from govhub_common.security import TokenIssuer, TokenVerifier, generate_key_pair


def test_a_remembered_token_is_verified_again_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = generate_key_pair()
    token = TokenIssuer(keys, issuer="govhub", audience="govhub").issue(
        "gz-ltax", ["registry:read"], ttl_seconds=60
    )
    verifier = TokenVerifier(keys, issuer="govhub", audience="govhub")
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # remembered, not verified again
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    # Past its exp the memory no longer answers: the signature and claims are checked anew
    # (and an expired token is refused there: test_http's expired-token test).
    assert verifier.verify(token) is not first


def test_the_memory_is_bounded() -> None:
    keys = generate_key_pair()
    issuer = TokenIssuer(keys, issuer="govhub", audience="govhub")
    verifier = TokenVerifier(keys, issuer="govhub", audience="govhub", cache_size=3)
    for i in range(10):
        verifier.verify(issuer.issue(f"agency-{i}", ["x"]))
    assert len(verifier._verified) == 3
