"""Segment counting as carriers bill it: GSM-7 160/153, UCS-2 70/67 (UTF-16 units)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from govhub_sms.text import (
    GSM_BASIC,
    GSM_EXTENSION,
    count_segments,
    decode_gsm7,
    encode_gsm7,
    encoding_for,
    split_gsm7,
    split_ucs2,
    ucs2_units,
)

SIGNATURE = "【广州市政务服务数据管理局】"
gsm_chars = st.sampled_from(sorted(GSM_BASIC) + sorted(GSM_EXTENSION))
gsm_text = st.text(alphabet=gsm_chars, max_size=800)
any_text = st.text(max_size=400)


def test_exact_ucs2_boundaries() -> None:
    assert count_segments("政" * 70) == count_segments("政" * 70).__class__("ucs2", 70, 1)
    assert count_segments("政" * 71).segments == 2
    assert count_segments("政" * 72).segments == 2
    assert count_segments("政" * 134).segments == 2
    assert count_segments("政" * 135).segments == 3
    assert [len(p) for p in split_ucs2("政" * 72)] == [67, 5]


def test_exact_gsm_boundaries() -> None:
    assert count_segments("a" * 160) == count_segments("a" * 160).__class__("gsm7", 160, 1)
    assert count_segments("a" * 161).segments == 2
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3
    assert [len(p) for p in split_gsm7("a" * 161)] == [153, 8]


def test_extension_characters_count_double() -> None:
    assert encoding_for("Price: 5€ [x]") == "gsm7"
    assert count_segments("€" * 80).units == 160
    assert count_segments("€" * 80).segments == 1
    assert count_segments("€" * 81).segments == 2
    # 152 plain + "€" (2 septets) cannot share the first part's last septet
    parts = split_gsm7("a" * 152 + "€" + "a" * 10)
    assert parts[0] == "a" * 152 and parts[1].startswith("€")


def test_signature_counts() -> None:
    info = count_segments(SIGNATURE)
    assert (info.encoding, info.units, info.segments) == ("ucs2", 14, 1)
    assert count_segments(SIGNATURE + "请" * 56).segments == 1  # 70 units
    assert count_segments(SIGNATURE + "请" * 57).segments == 2  # 71 units
    assert count_segments(SIGNATURE + "请" * 58).segments == 2  # 72 units
    # one Chinese character makes a whole English text UCS-2
    assert count_segments("Dear taxpayer, " * 5 + SIGNATURE).encoding == "ucs2"


def test_non_gsm_latin_and_emoji() -> None:
    assert encoding_for("Ç") == "gsm7"
    assert encoding_for("ç") == "ucs2"  # the GSM table has only the capital
    assert encoding_for("â") == "ucs2"
    assert count_segments("😀").units == 2
    assert count_segments("😀" * 35).segments == 1
    assert count_segments("😀" * 36).segments == 2


def test_surrogate_pair_never_split() -> None:
    text = "a" * 66 + "😀" + "b" * 10  # the emoji straddles unit 67
    parts = split_ucs2(text)
    assert parts[0] == "a" * 66
    assert parts[1].startswith("😀")


def test_empty_text_is_one_segment() -> None:
    assert count_segments("") == count_segments("").__class__("gsm7", 0, 1)


@given(gsm_text)
def test_gsm_split_roundtrip_and_bounds(text: str) -> None:
    parts = split_gsm7(text)
    assert "".join(parts) == text
    info = count_segments(text)
    assert info.encoding == "gsm7"
    assert info.segments == len(parts)
    assert info.units == len(encode_gsm7(text))
    if len(parts) > 1:
        assert all(0 < len(encode_gsm7(p)) <= 153 for p in parts)
        assert info.units > 160
    else:
        assert info.units <= 160
    assert decode_gsm7(encode_gsm7(text)) == text


@given(any_text)
def test_ucs2_split_roundtrip_and_bounds(text: str) -> None:
    parts = split_ucs2(text)
    assert "".join(parts) == text
    units = len(text.encode("utf-16-be")) // 2
    assert ucs2_units(text) == units
    if units <= 70:
        assert parts == [text]
    else:
        for p in parts:
            p.encode("utf-16-be")  # a lone surrogate half would not encode
            assert 0 < ucs2_units(p) <= 67
        # at most one extra part for the surrogate pairs pushed to the next part
        assert len(parts) >= -(-units // 67)


@given(any_text)
def test_count_segments_is_consistent(text: str) -> None:
    info = count_segments(text)
    assert info.encoding == encoding_for(text)
    if info.encoding == "ucs2":
        assert info.units == ucs2_units(text)
        assert info.segments == len(split_ucs2(text))
        assert any(ch not in GSM_BASIC and ch not in GSM_EXTENSION for ch in text)
    else:
        assert info.segments == len(split_gsm7(text))
    assert info.segments >= 1
