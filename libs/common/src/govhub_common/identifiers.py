"""Chinese identifiers: resident identity numbers (GB 11643), USCCs (GB 32100), mobiles.

Validated through python-stdnum; usable as pydantic field types, with JSON Schema formats
`cn-ric`, `cn-uscc` and `cn-mobile`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_MOBILE_CANONICAL = re.compile(r"\+861[3-9][0-9]{9}")  # what normalize_mobile returns


# Fast paths for identifiers already in canonical form (18 upper-case characters of the
# right alphabet): python-stdnum cleans its input character by character, which at 20,000
# records/s with two identifiers each took most of a core. Same arithmetic, same answers
# (tests/common/test_identifiers.py compares both); anything else goes through stdnum.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_AS_BASE34 = str.maketrans(
    _USCC_ALPHABET, "0123456789abcdefghijklmnopqrstu"
)  # each character's value (0-30) as a base-34 digit
_USCC_CANONICAL = re.compile(r"[0-9]{8}[0-9A-HJ-NPQRTUWXY]{10}")
_RIC_CANONICAL = re.compile(r"[0-9]{17}[0-9X]")


def is_valid_ric(value: object) -> bool:
    if isinstance(value, str) and _RIC_CANONICAL.fullmatch(value):
        try:
            date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
        except ValueError:
            return False
        check = (1 - 2 * int(value[:17], 13)) % 11
        return value[17] == ("X" if check == 10 else str(check))
    try:
        validate_ric(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def is_valid_uscc(value: object) -> bool:
    if isinstance(value, str) and _USCC_CANONICAL.fullmatch(value):
        # The weights are 3**i mod 31, so the weighted sum is the first 17 characters,
        # reversed, read as a base-34 number (34 = 3 mod 31): one int() call in C.
        total = int(value[16::-1].translate(_USCC_AS_BASE34), 34)
        return value[17] == _USCC_ALPHABET[-total % 31]
    return isinstance(value, str) and bool(uscc.is_valid(value))


def validate_ric(value: str) -> str:
    """Length, birth date and check character through python-stdnum's cn.ric.

    stdnum also requires the region code to have existed in the birth year, and its table
    starts in 1983, which would refuse every pensioner; a region code is assigned when the
    number is issued, not at birth, so that one check is left out here.
    """
    number = ric.compact(value) if isinstance(value, str) else value
    try:
        if len(number) != 18 or not number[:17].isdigit():
            raise StdnumError("must be 17 digits and a check character")
        ric.get_birth_date(number)
        if number[-1] != ric.calc_check_digit(number):
            raise StdnumError("the check character does not match")
    except StdnumError as exc:
        raise ValueError(f"not a valid resident identity number: {exc}") from None
    return str(number)


def validate_uscc(value: str) -> str:
    try:
        return str(uscc.validate(value))
    except StdnumError as exc:
        raise ValueError(f"not a valid unified social credit code: {exc}") from None


def normalize_mobile(value: str) -> str:
    """'13800138000', '86 138-0013-8000' or '+8613800138000' -> '+8613800138000'."""
    compact = re.sub(r"[\s\-()]", "", value)
    match = _MOBILE.match(compact)
    if not match:
        raise ValueError("not a mainland China mobile number (11 digits starting 13-19)")
    return "+86" + match.group(1)


def is_valid_mobile(value: str) -> bool:
    if isinstance(value, str) and _MOBILE_CANONICAL.fullmatch(value):
        return True
    try:
        normalize_mobile(value)
    except ValueError:
        return False
    return True


def mask_ric(value: str) -> str:
    """440106199001011234 -> 440106********1234 (region kept, birth date hidden)."""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_uscc(value: str) -> str:
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_mobile(value: str) -> str:
    """+8613800138000 -> +86138****8000."""
    digits = value[-11:]
    prefix = value[: len(value) - 11]
    return prefix + digits[:3] + "****" + digits[-4:]


def _str(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


ResidentId = Annotated[
    str,
    BeforeValidator(_str),
    AfterValidator(validate_ric),
    WithJsonSchema({"type": "string", "format": "cn-ric", "minLength": 18, "maxLength": 18}),
]
Uscc = Annotated[
    str,
    BeforeValidator(_str),
    AfterValidator(validate_uscc),
    WithJsonSchema({"type": "string", "format": "cn-uscc", "minLength": 18, "maxLength": 18}),
]
MobileNumber = Annotated[
    str,
    AfterValidator(normalize_mobile),
    WithJsonSchema({"type": "string", "format": "cn-mobile", "examples": ["+8613800138000"]}),
]

# Format checkers for JSON Schema validators (jsonschema-rs / fastjsonschema).
FORMAT_CHECKERS = {
    "cn-ric": is_valid_ric,
    "cn-uscc": is_valid_uscc,
    "cn-mobile": is_valid_mobile,
}
