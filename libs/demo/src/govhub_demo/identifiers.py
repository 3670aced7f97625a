"""Valid Chinese identifiers for simulated people and enterprises."""

from __future__ import annotations

import random
from datetime import date

from stdnum.cn import uscc

# Guangzhou districts (广州市各区) with their administrative division codes.
DISTRICTS: dict[str, str] = {
    "440103": "荔湾区",
    "440104": "越秀区",
    "440105": "海珠区",
    "440106": "天河区",
    "440111": "白云区",
    "440112": "黄埔区",
    "440113": "番禺区",
    "440114": "花都区",
    "440115": "南沙区",
    "440117": "从化区",
    "440118": "增城区",
}

_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def resident_id(rng: random.Random, region: str, birth: date, female: bool) -> str:
    """GB 11643: region, birth date, sequence (odd for men, even for women), check."""
    seq = rng.randrange(0, 500) * 2 + (0 if female else 1)
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    total = sum(int(d) * w for d, w in zip(body, _RIC_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def _org_code(rng: random.Random) -> str:
    """GB 11714 organisation code: eight characters and a check character."""
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def unified_social_credit_code(rng: random.Random, region: str) -> str:
    """GB 32100: authority 9 (market regulation), type 1 (enterprise), region, org code, check."""
    partial = f"91{region}{_org_code(rng)}"
    return partial + uscc.calc_check_digit(partial + "0")


def mobile(rng: random.Random) -> str:
    prefix = rng.choice(["135", "136", "137", "138", "139", "150", "151", "158", "186", "188"])
    return f"+86{prefix}{rng.randrange(0, 10**8):08d}"


# The characters a check character may be: GB 11643 (resident ID) and GB 32100 (USCC).
_RIC_CHECKS = "0123456789X"
_USCC_CHECKS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def corrupt_check_character(rng: random.Random, code: str) -> str:
    """The identifier with another check character, as a mistyped one: the rest of it stays
    valid, so only the check fails."""
    alphabet = _RIC_CHECKS if len(code) == 18 and code[:17].isdigit() else _USCC_CHECKS
    return code[:-1] + rng.choice([c for c in alphabet if c != code[-1]])
