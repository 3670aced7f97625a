"""JSON Schema format checkers for record data, with a fast path.

python-stdnum (behind govhub_common.identifiers) cleans its input character by character;
at 20,000 records/s with two identifiers each that alone took most of a core. Strings
already in canonical form (18 upper-case characters of the right alphabet) are checked
here with the same arithmetic; anything else goes to the shared checkers, so the answer
is always theirs (tests/exchange/test_formats.py compares both on generated numbers).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

from govhub_common.identifiers import FORMAT_CHECKERS

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_CANONICAL = re.compile(r"[0-9]{8}[0-9A-HJ-NP-RTUW-Y]{10}")
_RIC_CANONICAL = re.compile(r"[0-9]{17}[0-9X]")


def is_valid_uscc(value: object) -> bool:
    if not isinstance(value, str) or not _USCC_CANONICAL.fullmatch(value):
        return bool(FORMAT_CHECKERS["cn-uscc"](value))
    total = sum(_USCC_VALUE[c] * w for c, w in zip(value, _USCC_WEIGHTS, strict=False))
    return value[17] == _USCC_ALPHABET[(31 - total) % 31]


def is_valid_ric(value: object) -> bool:
    if not isinstance(value, str) or not _RIC_CANONICAL.fullmatch(value):
        return bool(FORMAT_CHECKERS["cn-ric"](value))
    try:
        datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    checksum = (1 - 2 * int(value[:17], 13)) % 11
    return value[17] == ("X" if checksum == 10 else str(checksum))


RECORD_FORMATS: dict[str, Callable[[str], bool]] = {
    **FORMAT_CHECKERS,
    "cn-uscc": is_valid_uscc,
    "cn-ric": is_valid_ric,
}
