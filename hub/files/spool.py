"""An upload on its way in: written to a local file as it arrives, counted and hashed, so it
is never whole in memory and stops at the size limit, not after it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from types import TracebackType

from hub.errors import DomainError, ErrorCode


def too_large(limit: int) -> DomainError:
    return DomainError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The file is larger than {limit} bytes ({limit / 1_048_576:.0f} MiB)",
        limit=limit,
    )


class Spool:
    """A temporary file under `folder` that removes itself unless `keep()` was called."""

    def __init__(self, folder: Path, limit: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{secrets.token_hex(16)}.part"
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self._file = self.path.open("wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise too_large(self.limit)
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> str:
        """Close the file; return the content's SHA-256 (hex)."""
        self._file.close()
        return self._hash.hexdigest()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
