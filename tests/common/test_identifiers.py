from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from stdnum.cn import ric, uscc

from govhub_common.identifiers import (
    MobileNumber,
    ResidentId,
    Uscc,
    is_valid_ric,
    is_valid_uscc,
    mask_mobile,
    mask_ric,
    normalize_mobile,
    validate_ric,
)

VALID_RIC = "11010519491231002X"
VALID_USCC = "91110000600037341L"


class Person(BaseModel):
    id_number: ResidentId
    mobile: MobileNumber


class Enterprise(BaseModel):
    uscc: Uscc


def ric_with_check(body: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def test_valid_identifiers_pass_and_are_normalised() -> None:
    person = Person(id_number=VALID_RIC.lower(), mobile="138 0013 8000")
    assert person.id_number == VALID_RIC
    assert person.mobile == "+8613800138000"
    assert Enterprise(uscc=VALID_USCC).uscc == VALID_USCC


def test_wrong_check_character_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        Person(id_number=VALID_RIC[:-1] + "1", mobile="13800138000")
    assert err.value.errors()[0]["loc"] == ("id_number",)
    with pytest.raises(ValidationError):
        Enterprise(uscc=VALID_USCC[:-1] + "A")


def test_json_schema_carries_the_formats() -> None:
    assert Person.model_json_schema()["properties"]["id_number"]["format"] == "cn-ric"
    assert Enterprise.model_json_schema()["properties"]["uscc"]["format"] == "cn-uscc"


@given(
    st.dates(min_value=date(1930, 1, 1), max_value=date(2020, 12, 31)),
    st.integers(0, 999),
)
def test_generated_ric_numbers_validate(birth: date, seq: int) -> None:
    number = ric_with_check(f"440106{birth:%Y%m%d}{seq:03d}")
    assert Person(id_number=number, mobile="13800138000").id_number == number


@pytest.mark.parametrize("bad", ["12345", "23800138000", "+85213800138000", "1380013800"])
def test_bad_mobiles_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_mobile(bad)


def test_masks_keep_only_what_identifies_nobody() -> None:
    assert mask_ric("440106199001011234") == "440106********1234"
    assert mask_mobile("+8613800138000") == "+86138****8000"


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
    born = (
        draw(st.dates()).strftime("%Y%m%d")
        if draw(st.booleans())
        else draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    )
    body = (
        region
        + born[-8:].rjust(8, "0")
        + draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    )
    if draw(st.booleans()):
        return body + ric.calc_check_digit(body + "0")
    return body + draw(st.sampled_from("0123456789Xx "))


def stdnum_ric(value: str) -> bool:
    try:
        validate_ric(value)
    except ValueError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(usccs() | st.text(max_size=20))
def test_the_uscc_fast_path_answers_as_stdnum(value: str) -> None:
    assert is_valid_uscc(value) == uscc.is_valid(value)


@settings(max_examples=400, deadline=None)
@given(rics() | st.text(max_size=20))
def test_the_ric_fast_path_answers_as_stdnum(value: str) -> None:
    assert is_valid_ric(value) == stdnum_ric(value)
