"""Files only the hub's own user may read: keys, secrets, the SMS log provider's file,
exports. Created with their mode (never world-readable, not even for a moment), and an
existing file or folder made private again when the hub opens it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any, Literal

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIRECTORY_MODE = 0o700


def private_directory(path: str | Path) -> Path:
    """The folder, created 0700 (missing parents get the usual mode) or, when it exists and
    is the hub user's, made 0700. One the hub does not own (a Kubernetes emptyDir's mount
    point belongs to root) keeps the mode its owner gave it: the files inside are 0600."""
    directory = Path(path)
    directory.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        os.chmod(directory, PRIVATE_DIRECTORY_MODE)
    return directory


_FLAGS = {
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
}


def open_private(
    path: str | Path, mode: Literal["a", "w", "x"] = "w", *, binary: bool = False
) -> IO[Any]:
    """Open a file for writing with mode 0600: created so (os.open, not open(), which
    would create it 0666 less the umask), and an existing file's mode set back to 0600.
    `mode` "a" appends, "w" truncates, "x" fails when the file exists."""
    fd = os.open(path, _FLAGS[mode] | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        access = "a" if mode == "a" else "w"  # os.open made (or refused) the file already
        if binary:
            return os.fdopen(fd, access + "b")
        return os.fdopen(fd, access, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def make_private(path: str | Path) -> None:
    """An existing file's mode set to 0600."""
    os.chmod(path, PRIVATE_FILE_MODE)


def write_private(path: str | Path, data: str | bytes) -> None:
    """Write a whole file with mode 0600 (replacing its content)."""
    with open_private(path, "w", binary=isinstance(data, bytes)) as out:
        out.write(data)
