"""Log lines never contain an unmasked ID or phone number: checked on real process output."""

import json
import re
import subprocess
import sys

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
