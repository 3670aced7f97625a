"""Receipt parsing and matching receipt ids to submitted parts (hex vs decimal)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from govhub_sms.providers.receipts import (
    Receipt,
    ReceiptTracker,
    looks_like_receipt_text,
    parse_receipt,
)

CN = timezone(timedelta(hours=8))
TEXT = "id:{id} sub:001 dlvrd:001 submit date:2605201200 done date:2605201201 stat:{stat} err:{err} text:"


def receipt(rid: str, stat: str = "DELIVRD", err: str = "000") -> Receipt:
    r = parse_receipt(TEXT.format(id=rid, stat=stat, err=err))
    assert r is not None
    return r


@pytest.mark.parametrize(
    ("stat", "status"),
    [
        ("DELIVRD", "delivered"),
        ("UNDELIV", "failed"),
        ("EXPIRED", "expired"),
        ("REJECTD", "failed"),
        ("DELETED", "failed"),
        ("UNKNOWN", "failed"),
        ("ENROUTE", None),
        ("ACCEPTD", None),
    ],
)
def test_parse_states(stat: str, status: str | None) -> None:
    r = parse_receipt(TEXT.format(id="6699", stat=stat, err="000"))
    assert r is not None
    assert (r.message_id, r.status) == ("6699", status)
    assert r.done_at == datetime(2026, 5, 20, 12, 1, tzinfo=CN)


def test_parse_error_code_and_tlvs() -> None:
    r = parse_receipt(TEXT.format(id="1", stat="UNDELIV", err="012"))
    assert r is not None and r.error_code == "012"
    r = parse_receipt("", receipted_message_id="1A2B", message_state=3)
    assert r is not None and (r.message_id, r.status) == ("1A2B", "expired")
    assert parse_receipt("hello") is None
    assert looks_like_receipt_text(TEXT.format(id="1", stat="DELIVRD", err="0"))
    assert not looks_like_receipt_text("TD")


def track(t: ReceiptTracker, message_id: str, *ids: str) -> list:
    group = t.new_group(message_id, ids[0])
    out = []
    for pid in ids:
        out += t.add_part(group, pid)
    return out + t.complete(group, len(ids))


def test_hex_resp_matches_decimal_receipt() -> None:
    t = ReceiptTracker()
    track(t, "m1", "1A2B")
    [rep] = t.on_receipt(receipt("6699"))
    assert (rep.provider_message_id, rep.message_id, rep.status) == ("1A2B", "m1", "delivered")
    assert t.learned == "hex_dec"


def test_decimal_resp_matches_zero_padded_hex_receipt() -> None:
    t = ReceiptTracker()
    track(t, "m1", "6699")
    [rep] = t.on_receipt(receipt("0000001a2b"))
    assert (rep.provider_message_id, rep.message_id) == ("6699", "m1")
    assert t.learned == "dec_hex"


def test_learned_reading_is_kept() -> None:
    t = ReceiptTracker()
    track(t, "m1", "1A2B")
    t.on_receipt(receipt("6699"))
    assert t.learned == "hex_dec"
    # resp "10" is 16 in decimal; a receipt "16" is that message, "10" is not
    track(t, "m2", "10")
    assert t.on_receipt(receipt("10")) == []
    [rep] = t.on_receipt(receipt("16"))
    assert rep.message_id == "m2"


def test_fixed_format() -> None:
    t = ReceiptTracker(id_format="same")
    track(t, "m1", "abc-1")
    assert t.on_receipt(receipt("ABC-1"))[0].message_id == "m1"


def test_multipart_reports_once_all_parts_delivered() -> None:
    t = ReceiptTracker()
    track(t, "m1", "100", "101", "102")
    assert t.on_receipt(receipt("100")) == []
    assert t.on_receipt(receipt("102")) == []
    [rep] = t.on_receipt(receipt("101"))
    assert (rep.provider_message_id, rep.status) == ("100", "delivered")
    assert t.on_receipt(receipt("101")) == []  # duplicate receipt: nothing more


def test_multipart_failure_reports_first_failure() -> None:
    t = ReceiptTracker()
    track(t, "m1", "100", "101")
    [rep] = t.on_receipt(receipt("101", "UNDELIV", "005"))
    assert (rep.provider_message_id, rep.status, rep.error_code) == ("100", "failed", "005")
    assert t.on_receipt(receipt("100")) == []


def test_receipt_before_its_submit_sm_resp() -> None:
    t = ReceiptTracker()
    assert t.on_receipt(receipt("6699")) == []
    assert t.orphan_count == 1
    [rep] = track(t, "m1", "1A2B")
    assert (rep.message_id, rep.status) == ("m1", "delivered")
    assert t.orphan_count == 0


def test_orphan_reported_after_grace_and_parts_expire() -> None:
    now = [0.0]
    t = ReceiptTracker(orphan_grace_s=30, ttl_s=100, clock=lambda: now[0])
    track(t, "m1", "1")
    t.on_receipt(receipt("777", "UNDELIV", "009"))
    assert t.expire() == []
    now[0] = 31
    [rep] = t.expire()
    assert (rep.provider_message_id, rep.status, rep.error_code, rep.message_id) == (
        "777",
        "failed",
        "009",
        None,
    )
    now[0] = 101
    t.expire()
    assert len(t) == 0


def test_intermediate_receipts_are_ignored() -> None:
    t = ReceiptTracker()
    track(t, "m1", "5")
    assert t.on_receipt(receipt("5", "ENROUTE")) == []
    assert t.on_receipt(receipt("5"))[0].status == "delivered"
