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


def test_the_actor_is_the_agency_for_a_client_and_agency_slash_person_for_a_person() -> None:
    from govhub_common.persons import PersonClaims

    keys = generate_key_pair()
    issuer = TokenIssuer(keys, issuer="govhub", audience="govhub")
    verifier = TokenVerifier(keys, issuer="govhub", audience="govhub")

    client = verifier.verify(issuer.issue("gz-ltax", ["alerting:read"], client_id="ltax-app"))
    assert client.person is None
    assert client.actor == "gz-ltax"

    ops = PersonClaims(
        person="local:ops", name="运维值班", role="operator", auth_time=1_700_000_000,
        agency="gz-datacenter",
    )  # fmt: skip
    person = verifier.verify(issuer.issue("gz-datacenter", ["operator"], person=ops))
    # The token still speaks for the agency: every agency rule applies unchanged.
    assert person.agency == "gz-datacenter" and person.is_operator
    assert person.person == "local:ops"
    assert person.actor == "gz-datacenter/local:ops"
    assert person.claims["act"] == {"sub": "console"}
    assert person.claims["person_name"] == "运维值班"
    assert person.claims["role"] == "operator"
    assert person.claims["auth_time"] == 1_700_000_000
