"""An archived segment on disk: `<topic>/<first seq>-<last seq>.ndjson.gz`, one record a line
(the feed's JSON of the record with every data item, and its publisher), and beside it
`<same>.manifest.json`, which says what the file holds, its SHA-256, and the signed audit
checkpoint that covers the records' publication. Written under a temporary name, flushed
to disk and renamed, so a file with the final name is whole."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from govhub_common.files import open_private, private_directory

FORMAT = "govhub-log-archive/1"
MANIFEST_SUFFIX = ".manifest.json"


def archive_name(topic: str, first_seq: int, last_seq: int) -> str:
    """The file's path relative to the archive folder."""
    return f"{topic}/{first_seq:012d}-{last_seq:012d}.ndjson.gz"


def manifest_path(archive: Path) -> Path:
    return archive.with_name(archive.name.removesuffix(".ndjson.gz") + MANIFEST_SUFFIX)


class _Hashing:
    """A file object that hashes and counts what is written through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


class ArchiveWriter:
    """Lines written gzip-compressed to a temporary file (0600: records hold personal
    data), renamed to `path` by finish() once on disk; abandon() removes it."""

    def __init__(self, path: Path) -> None:
        private_directory(path.parent)
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.raw: IO[bytes] = open_private(self.partial, "w", binary=True)
        self.hashing = _Hashing(self.raw)
        self.gzip = gzip.GzipFile(fileobj=self.hashing, mode="wb", compresslevel=6, mtime=0)
        self.lines = 0

    def write(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self.gzip.write(line)
            self.gzip.write(b"\n")
            self.lines += 1

    def finish(self) -> tuple[str, int, int]:
        """(sha256 of the file, its bytes, its lines)."""
        self.gzip.close()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()
        self.partial.rename(self.path)
        return self.hashing.sha256.hexdigest(), self.hashing.bytes, self.lines

    def abandon(self) -> None:
        self.gzip.close()
        self.raw.close()
        self.partial.unlink(missing_ok=True)


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    with open_private(partial, "w", binary=True) as out:
        out.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        out.flush()
        os.fsync(out.fileno())
    partial.rename(path)


def read_manifest(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = orjson.loads(path.read_bytes())
    return manifest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_lines(path: Path) -> Iterator[bytes]:
    """The archive's lines, without their newlines."""
    with gzip.open(path, "rb") as data:
        for line in data:
            yield line.rstrip(b"\n")
