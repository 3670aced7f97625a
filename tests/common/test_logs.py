"""Log lines never contain an unmasked ID or phone number: checked on real process output."""

import json
import re
import subprocess
import sys
from datetime import date

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from govhub_common.identifiers import is_valid_ric
from govhub_common.logs import mask_text

SCRIPT = r"""
import logging
from govhub_common.logs import configure_logging
configure_logging("INFO", "json")
log = logging.getLogger("govhub.test")
log.info("registered %s with mobile %s", "11010519491231002X", "+8613800138000")
log.warning("plain text 440106199001011234 and 13912345678 and 86-13700001111")
try:
    raise ValueError("bad record for 11010519491231002X")
except ValueError:
    log.exception("failed")
logging.getLogger("uvicorn.access").info('"GET /registry/v1/persons/11010519491231002X" 200')
"""

RAW_NUMBERS = re.compile(
    r"11010519491231002X|440106199001011234|13800138000|13912345678|13700001111"
)


def test_every_line_is_json_and_masked() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stderr
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(lines) == 4
    assert not RAW_NUMBERS.search(out), out
    assert "110105********002X" in lines[0]["message"]
    assert "+86138****8000" in lines[0]["message"]
    assert "bad record for 110105********002X" in lines[2]["exception"]
    assert lines[3]["logger"] == "uvicorn.access"


# Issue 15, point 11: the shapes the first masking missed. Property-tested: a valid ID
# (18 or 15 digits) or a mobile written in any of the usual ways, inside any text, never
# survives whole.

SEPARATORS = st.sampled_from(["", " ", "-", "\t", "\u00a0"])
MOBILE_PREFIXES = st.sampled_from(["", "+86", "86", "0086", "+86 ", "(+86) ", "+86-", "86 "])
# Around a number: any text that does not continue it with another digit (which would make
# it some other, longer number).
AROUND = st.text(max_size=30)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.from_regex(r"[1-9][0-9]{5}", fullmatch=True))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    serial = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    if draw(st.booleans()):  # first generation: 15 digits, a two-digit year, no check
        return region + born.strftime("%y%m%d") + serial
    body = region + born.strftime("%Y%m%d") + serial
    return body + ric.calc_check_digit(body + "0")  # stdnum skips the last character


@st.composite
def mobiles(draw: st.DrawFn) -> tuple[str, str]:
    """(the 11 digits, the number as written)"""
    digits = (
        "1" + draw(st.sampled_from("3456789")) + draw(st.from_regex(r"[0-9]{9}", fullmatch=True))
    )
    groups = draw(st.sampled_from([(3, 4, 4), (3, 8), (11,), (4, 3, 4), (3, 3, 5)]))
    separator = draw(SEPARATORS)
    parts, start = [], 0
    for size in groups:
        parts.append(digits[start : start + size])
        start += size
    return digits, draw(MOBILE_PREFIXES) + separator.join(parts)


def _embedded(draw: st.DrawFn, written: str) -> str:
    before = draw(AROUND.filter(lambda t: not t[-1:].isascii() or not t[-1:].isdigit()))
    after = draw(AROUND.filter(lambda t: not t[:1].isascii() or not t[:1].isdigit()))
    text = before + written + after
    return draw(st.sampled_from([text, orjson.dumps({"value": text}).decode()]))


@given(st.data())
@settings(max_examples=400, deadline=None)
def test_no_resident_id_survives_masking(data: st.DataObject) -> None:
    id_number = data.draw(resident_ids())
    line = _embedded(data.draw, id_number)
    assert is_valid_ric(id_number) or len(id_number) == 15
    assert id_number not in mask_text(line)


@given(st.data())
@settings(max_examples=400, deadline=None)
def test_no_mobile_survives_masking(data: st.DataObject) -> None:
    digits, written = data.draw(mobiles())
    masked = mask_text(_embedded(data.draw, written))
    assert written not in masked
    assert digits not in re.sub(r"[\s\-]", "", masked)


def test_failed_statements_leave_their_values_out_of_the_log(db_url: str) -> None:
    """A failed INSERT logged at ERROR (as the problem handler logs an unhandled error):
    neither SQLAlchemy's "[parameters: ...]" nor PostgreSQL's DETAIL line reaches the log."""
    script = f"""
import asyncio, logging
from sqlalchemy import text
from govhub_common.db import Database
from govhub_common.logs import configure_logging
configure_logging("INFO", "json")
async def main():
    db = Database({db_url!r})
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TEMP TABLE secrets (id text PRIMARY KEY, note text)"))
            for note in ("first", "王秘密的住址"):
                await session.execute(
                    text("INSERT INTO secrets VALUES (:id, :note)"),
                    {{"id": "key-of-王秘密", "note": note}},
                )
    except Exception:
        logging.getLogger("govhub.test").exception("unhandled error on POST /x")
    await db.close()
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stderr
    (line,) = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert "UniqueViolationError" in line["exception"]
    assert "王秘密" not in out, out


LINES = r"""
import logging, sys
from govhub_common.logs import configure_logging
configure_logging("INFO", sys.argv[1])
logging.getLogger("uvicorn.access").info(
    '%s - "%s %s HTTP/1.1" %d', "127.0.0.1:5000", "GET",
    "/registry/v1/persons/ID440103192611063699?purpose=call+86 138-0013-8000", 422,
)
try:
    raise ValueError("record 7: legal_rep_id=440103261106369 mobile 139 1234 5678")
except ValueError:
    logging.getLogger("govhub.registry").exception("unmapped record")
logging.getLogger("govhub.exchange").info(
    "record 123456 seq 98765 at 1700000000000 from 10.13.200.123 on 2024-03-01T13:45:12Z"
)
"""


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_hub_lines_with_the_new_shapes_are_masked(fmt: str) -> None:
    """Lines as the hub writes them (an access line, an exception), through the logging
    config `govhub run` installs."""
    out = subprocess.run(
        [sys.executable, "-c", LINES, fmt], capture_output=True, text=True, check=True
    ).stderr
    assert "/registry/v1/persons/ID440103********3699" in out, out
    assert "+86 138****8000" in out and "440103*****6369" in out, out
    for raw in ("440103192611063699", "0013-8000", "1234 5678", "440103261106369"):
        assert raw not in out, out
    # Ordinary numbers stay readable: ids, seqs, epoch milliseconds, addresses, times.
    assert (
        "record 123456 seq 98765 at 1700000000000 from 10.13.200.123 on 2024-03-01T13:45:12Z" in out
    )
