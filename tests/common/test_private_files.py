"""Files that hold secrets or residents' data are readable by the hub's user only
(issue 15, point 11): govhub_common.files, used wherever govhub writes such a file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from govhub_common.security import load_key_pair
from govhub_common.settings import CommonSettings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_development_keys_are_private_and_made_private_again(tmp_path: Path) -> None:
    umask = os.umask(0o022)  # what a shell usually gives: files 0644, folders 0755
    try:
        settings = CommonSettings(home=tmp_path)
        load_key_pair(settings)
    finally:
        os.umask(umask)
    keys = tmp_path / "keys"
    assert _mode(keys) == 0o700 and _mode(keys / "jwt-private.pem") == 0o600
    # As an older version left them: readable by everyone.
    os.chmod(keys, 0o755)
    os.chmod(keys / "jwt-private.pem", 0o644)
    load_key_pair(settings)
    assert _mode(keys) == 0o700 and _mode(keys / "jwt-private.pem") == 0o600
