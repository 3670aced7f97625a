"""Normal forms for comparing names and addresses written by different agencies:
full/half width (NFKC), traditional to simplified Chinese (OpenCC t2s), no spaces or
punctuation, and for enterprises without the company-form suffix."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_T2S = opencc.OpenCC("t2s")
_NOISE = re.compile(r"[\s·•.,，。、\-_'\"()（）\[\]【】]+")
# Longest first, so 有限责任公司 is not left as 有限责任.
_COMPANY_FORMS = sorted(
    (
        "股份有限公司",
        "有限责任公司",
        "有限公司",
        "集团公司",
        "公司",
        "集团",
        "分公司",
        "厂",
        "商行",
    ),
    key=len,
    reverse=True,
)


@lru_cache(maxsize=65536)
def normalise_text(value: str) -> str:
    text = unicodedata.normalize("NFKC", value)
    text = _T2S.convert(text)
    return _NOISE.sub("", text).lower()


def normalise_person_name(value: str) -> str:
    return normalise_text(value)


def normalise_company_name(value: str) -> str:
    text = normalise_text(value)
    for suffix in _COMPANY_FORMS:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text
