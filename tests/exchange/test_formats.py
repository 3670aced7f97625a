"""The fast format checkers answer exactly as the shared (python-stdnum) ones."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from govhub_common.identifiers import FORMAT_CHECKERS
from govhub_exchange.catalog.formats import RECORD_FORMATS

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXYZIOSV"


@st.composite
def usccs(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet="0123456789", min_size=8, max_size=8)) + draw(
        st.text(alphabet=USCC_CHARS, min_size=9, max_size=9)
    )
    if draw(st.booleans()):
        try:
            return body + uscc.calc_check_digit(body)
        except ValueError:
            pass
    return body + draw(st.sampled_from(USCC_CHARS + "x"))


@st.composite
def rics(draw: st.DrawFn) -> str:
    region = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    date = (
        draw(st.dates()).strftime("%Y%m%d")
        if draw(st.booleans())
        else draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    )
    body = (
        region
        + date[-8:].rjust(8, "0")
        + draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    )
    if draw(st.booleans()):
        return body + ric.calc_check_digit(body + "0")
    return body + draw(st.sampled_from("0123456789Xx "))


@settings(max_examples=400, deadline=None)
@given(usccs() | st.text(max_size=20))
def test_uscc_fast_path_agrees_with_stdnum(value: str) -> None:
    assert RECORD_FORMATS["cn-uscc"](value) == FORMAT_CHECKERS["cn-uscc"](value)


@settings(max_examples=400, deadline=None)
@given(rics() | st.text(max_size=20))
def test_ric_fast_path_agrees_with_stdnum(value: str) -> None:
    assert RECORD_FORMATS["cn-ric"](value) == FORMAT_CHECKERS["cn-ric"](value)
