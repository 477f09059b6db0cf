"""Office documents are ZIP archives: which one it is, and whether it is safe to open.

Sizes in the central directory can lie, so every entry is inflated (and thrown away) with a
running budget; a ZIP inside the archive is opened the same way, one level deep at most.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import IO

from hub.files import types
from hub.files.refusals import FileRefusedError

MAX_ENTRIES = 5_000
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_RATIO = 200
MAX_NESTING = 1
_CHUNK = 1 << 16
# The part that says what kind of Office document a package is.
_MAIN_PARTS = {
    "word/document.xml": types.DOCX,
    "xl/workbook.xml": types.XLSX,
    "ppt/presentation.xml": types.PPTX,
}
_MACRO_MARKERS = ("vbaproject.bin", "vbaprojectsignature.bin", "activex/", "macros/")


@dataclass
class _Budget:
    total: int = 0
    entries: int = 0


def office_type(fileobj: IO[bytes]) -> types.FileType:
    """The Office type of a ZIP, after the bomb and macro checks; refused if it is none."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRefusedError(f"The archive is damaged: {exc}") from None
    with archive:
        names = {info.filename.lower(): info.filename for info in archive.infolist()}
        if "[content_types].xml" not in names:
            raise FileRefusedError(
                "A ZIP archive is not an Office document; zip files are not allowed"
            )
        found = [t for part, t in _MAIN_PARTS.items() if part in names]
        if len(found) != 1:
            raise FileRefusedError("The archive is not a Word, Excel or PowerPoint document")
        for name in names:
            if any(marker in name for marker in _MACRO_MARKERS):
                raise FileRefusedError(
                    "Documents with macros are not allowed (it contains vbaProject.bin)",
                    check="macro",
                )
        _inflate_all(archive, _Budget(), depth=0)
    return found[0]


def _inflate_all(archive: zipfile.ZipFile, budget: _Budget, depth: int) -> None:
    infos = archive.infolist()
    budget.entries += len(infos)
    if budget.entries > MAX_ENTRIES:
        raise _bomb(f"more than {MAX_ENTRIES} entries")
    declared = sum(i.file_size for i in infos)
    if budget.total + declared > MAX_TOTAL_BYTES:
        raise _bomb(f"it would inflate to more than {MAX_TOTAL_BYTES // 2**20} MB")
    for info in infos:
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise FileRefusedError("Encrypted archive entries cannot be checked", check="zip")
        nested = _inflate(archive, info, budget)
        if nested is not None:
            if depth >= MAX_NESTING:
                raise _bomb("archives nested inside archives")
            with zipfile.ZipFile(nested) as inner:
                _inflate_all(inner, budget, depth + 1)


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> IO[bytes] | None:
    """Inflate one entry against the budget; a ZIP inside comes back to be opened too."""

    size, head = 0, b""
    keep: io.BytesIO | None = None
    try:
        with archive.open(info) as entry:
            while chunk := entry.read(_CHUNK):
                size += len(chunk)
                budget.total += len(chunk)
                if budget.total > MAX_TOTAL_BYTES:
                    raise _bomb(f"it inflates to more than {MAX_TOTAL_BYTES // 2**20} MB")
                if size > 1 << 20 and size > MAX_RATIO * max(info.compress_size, 1):
                    raise _bomb(f"an entry inflates more than {MAX_RATIO} times")
                if not head:
                    head = chunk[:4]
                    if head == b"PK\x03\x04":
                        keep = io.BytesIO()
                if keep is not None:
                    if keep.tell() + len(chunk) > 16 * 1024 * 1024:
                        raise _bomb("an archive inside the archive is too large")
                    keep.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise FileRefusedError(f"The archive is damaged: {exc}", check="zip") from None
    if keep is not None:
        keep.seek(0)
    return keep


def _bomb(what: str) -> FileRefusedError:
    return FileRefusedError(f"The archive looks like a zip bomb: {what}", check="zip_bomb")
