"""File names as people see them: never a path, never trusted for the type.

A name is shown to other people and put into `Content-Disposition`, so it is reduced to one
safe path component: no directories (`../`), no control characters (NUL), no leading dots,
at most `MAX_NAME_CHARS` characters, and the extension of what the bytes really are.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath

MAX_NAME_CHARS = 200
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def safe_name(raw: str | None, extension: str) -> str:
    """A displayable file name for `raw` ending in `.extension` (the sniffed type's)."""
    name = unicodedata.normalize("NFC", raw or "")
    # Keep only the last component of either kind of path.
    name = PureWindowsPath(PurePosixPath(name.replace("\x00", "")).name).name
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    stem, dot, _ = name.rpartition(".")
    if not dot:
        stem = name
    stem = stem.strip(" .") or "file"
    budget = MAX_NAME_CHARS - len(extension) - 1
    return f"{stem[:budget].rstrip(' .') or 'file'}.{extension}"
