"""SMS text encoding and segmentation, counted the way carriers bill.

A text goes out as GSM-7 when every character is in the GSM 03.38 default alphabet or its
extension table (extension characters take two septets: an escape and the code), otherwise
as UCS-2 (UTF-16 code units; characters outside the BMP take two units).

| encoding | single message | per part of a concatenated message |
| -------- | -------------- | ---------------------------------- |
| GSM-7    | 160 septets    | 153 septets (7 bytes of UDH)       |
| UCS-2    | 70 units       | 67 units (6 bytes of UDH)          |

Splitting never cuts a GSM escape sequence or a UTF-16 surrogate pair in two, so a part
can be one unit short and the part count can exceed ``ceil(units / per_part)``; the
count reported by :func:`count_segments` is always the number of parts actually sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

# GSM 03.38 default alphabet, indexed by septet value. 0x1B is the escape to the extension
# table, not a character, and is kept out of the lookup below.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(_GSM_BASIC) == 128

GSM_ESCAPE = 0x1B
GSM_BASIC: dict[str, int] = {ch: i for i, ch in enumerate(_GSM_BASIC) if i != GSM_ESCAPE}
GSM_EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_GSM_DECODE_BASIC = {v: k for k, v in GSM_BASIC.items()}
_GSM_DECODE_EXTENSION = {v: k for k, v in GSM_EXTENSION.items()}


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    encoding: Encoding
    units: int
    """GSM-7 septets (extension characters count 2) or UTF-16 code units."""
    segments: int
    """SMS parts billed, 1 for a text that fits one message (including the empty text)."""


def encoding_for(text: str) -> Encoding:
    """``"gsm7"`` when every character is in the GSM 03.38 default or extension table."""
    for ch in text:
        if ch not in GSM_BASIC and ch not in GSM_EXTENSION:
            return "ucs2"
    return "gsm7"


def gsm7_units(text: str) -> int:
    """Septets needed for ``text`` (which must be GSM-7 encodable)."""
    return sum(2 if ch in GSM_EXTENSION else 1 for ch in text)


def ucs2_units(text: str) -> int:
    """UTF-16 code units needed for ``text``."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _split(
    text: str, single: int, part: int, width: dict[str, int] | None, astral: bool
) -> list[str]:
    def w(ch: str) -> int:
        if astral:
            return 2 if ord(ch) > 0xFFFF else 1
        assert width is not None
        return width.get(ch, 1)

    total = sum(w(ch) for ch in text)
    if total <= single:
        return [text]
    parts: list[str] = []
    start = 0
    used = 0
    for i, ch in enumerate(text):
        cw = w(ch)
        if used + cw > part:
            parts.append(text[start:i])
            start, used = i, 0
        used += cw
    parts.append(text[start:])
    return parts


_EXT_WIDTH = dict.fromkeys(GSM_EXTENSION, 2)


def split_gsm7(text: str) -> list[str]:
    """Split a GSM-7 text into the parts it is sent as; never splits an escape sequence."""
    return _split(text, GSM7_SINGLE, GSM7_PART, _EXT_WIDTH, astral=False)


def split_ucs2(text: str) -> list[str]:
    """Split a text into the UCS-2 parts it is sent as; never splits a surrogate pair.

    A text of up to 70 UTF-16 units is one part; a longer one is cut into parts of at most
    67 units each. Joining the parts gives back the text.
    """
    return _split(text, UCS2_SINGLE, UCS2_PART, None, astral=True)


def split_text(text: str, encoding: Encoding | None = None) -> list[str]:
    """Split ``text`` into parts for ``encoding`` (chosen by :func:`encoding_for` if None)."""
    enc = encoding or encoding_for(text)
    return split_gsm7(text) if enc == "gsm7" else split_ucs2(text)


def count_segments(text: str) -> SegmentInfo:
    """Encoding, units and billed parts of ``text``."""
    enc = encoding_for(text)
    if enc == "gsm7":
        units = gsm7_units(text)
        segments = 1 if units <= GSM7_SINGLE else len(split_gsm7(text))
    else:
        units = ucs2_units(text)
        segments = 1 if units <= UCS2_SINGLE else len(split_ucs2(text))
    return SegmentInfo(enc, units, segments)


def encode_gsm7(text: str) -> bytes:
    """Unpacked GSM-7 (one septet per byte, as SMPP carries data_coding 0x00).

    Raises ``ValueError`` for a character outside the GSM 03.38 tables.
    """
    out = bytearray()
    for ch in text:
        code = GSM_BASIC.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = GSM_EXTENSION.get(ch)
        if ext is None:
            raise ValueError(f"character {ch!r} is not in the GSM 03.38 alphabet")
        out += bytes((GSM_ESCAPE, ext))
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    """Inverse of :func:`encode_gsm7`; unknown codes decode as ``?``."""
    out: list[str] = []
    escaped = False
    for b in data:
        b &= 0x7F
        if escaped:
            out.append(_GSM_DECODE_EXTENSION.get(b, "?"))
            escaped = False
        elif b == GSM_ESCAPE:
            escaped = True
        else:
            out.append(_GSM_DECODE_BASIC.get(b, "?"))
    return "".join(out)


def encode_ucs2(text: str) -> bytes:
    """UTF-16BE bytes, as SMPP carries data_coding 0x08."""
    return text.encode("utf-16-be")


def decode_ucs2(data: bytes) -> str:
    return data.decode("utf-16-be", errors="replace")
