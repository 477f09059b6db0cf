"""PDFs that act on their own are refused: JavaScript, launch actions, embedded files.

Names in a PDF can be written with #xx escapes and hidden in compressed object streams, so
the objects are read by pypdf (which decodes both), not searched for as raw bytes.
"""

from __future__ import annotations

from typing import IO, Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from hub.files.refusals import FileRefusedError

_ACTIVE = {
    "/JS": "JavaScript",
    "/JavaScript": "JavaScript",
    "/Launch": "a launch action",
    "/EmbeddedFile": "an embedded file",
    "/EmbeddedFiles": "embedded files",
    "/RichMedia": "rich media",
    "/XFA": "an XFA form",
}
MAX_OBJECTS = 200_000


def check_pdf(fileobj: IO[bytes]) -> int:
    """Refuse active content; return the page count."""
    try:
        reader = PdfReader(fileobj, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileRefusedError("Password-protected PDFs cannot be checked", check="pdf")
        pages = len(reader.pages)
        _walk_objects(reader)
    except FileRefusedError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise FileRefusedError(f"The PDF is damaged: {exc}", check="pdf") from None
    return pages


def _walk_objects(reader: PdfReader) -> None:
    seen = 0
    for generation, numbers in reader.xref.items():
        for number in numbers:
            seen += 1
            _inspect(reader.get_object(IndirectObject(number, generation, reader)))
    for number in reader.xref_objStm:
        seen += 1
        _inspect(reader.get_object(IndirectObject(number, 0, reader)))
    if seen > MAX_OBJECTS:
        raise FileRefusedError("The PDF has too many objects to check", check="pdf")
    _inspect(reader.trailer["/Root"].get_object())


def _inspect(obj: Any) -> None:
    if isinstance(obj, DictionaryObject):
        for key, value in obj.items():
            if key in _ACTIVE:
                raise _active(_ACTIVE[key])
            if key in ("/S", "/Type", "/Subtype") and str(value) in _ACTIVE:
                raise _active(_ACTIVE[str(value)])
            if isinstance(value, (DictionaryObject, ArrayObject)):
                _inspect(value)
    elif isinstance(obj, ArrayObject):
        for item in obj:
            if isinstance(item, (DictionaryObject, ArrayObject)):
                _inspect(item)


def _active(what: str) -> FileRefusedError:
    return FileRefusedError(f"PDFs with {what} are not allowed", check="pdf_active")
