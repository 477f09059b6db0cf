"""Reading an upload's body into a spool as it arrives: one file part of a
multipart/form-data body (python-multipart's streaming parser), or a raw body.

Nothing is held whole in memory; the spool counts and stops at the size limit. A client that
goes away, or a multipart body that ends before its closing boundary, is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from hub.errors import DomainError, ErrorCode
from hub.files.spool import Spool


def incomplete(message: str) -> DomainError:
    return DomainError(ErrorCode.UPLOAD_INCOMPLETE, message)


async def read_into(request: Request, spool: Spool) -> str | None:
    """Stream the body into `spool`; return the file name the client gave (if any)."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    try:
        if content_type == b"multipart/form-data":
            boundary = params.get(b"boundary")
            if not boundary:
                raise DomainError(ErrorCode.VALIDATION, "The multipart body has no boundary")
            return await _multipart(request, spool, boundary)
        async for chunk in request.stream():
            spool.write(chunk)
        return None
    except ClientDisconnect:
        raise incomplete("The upload was cut off before the end of the body") from None


@dataclass
class _Part:
    header_name: bytes = b""
    header_value: bytes = b""
    disposition: bytes = b""
    is_file: bool = False


@dataclass
class _FormReader:
    """python-multipart callbacks: the one file part goes to the spool, other fields are
    skipped (within a bound)."""

    spool: Spool
    part: _Part = field(default_factory=_Part)
    files: int = 0
    file_name: str | None = None
    ended: bool = False
    field_bytes: int = 0

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]
        if len(self.part.header_value) > 4096:
            raise DomainError(ErrorCode.VALIDATION, "A multipart header is too long")

    def on_header_end(self) -> None:
        if self.part.header_name.lower() == b"content-disposition":
            self.part.disposition = self.part.header_value
        self.part.header_name, self.part.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.disposition)
        if b"filename" in options:
            self.files += 1
            if self.files > 1:
                raise DomainError(ErrorCode.VALIDATION, "Send one file per upload")
            self.part.is_file = True
            self.file_name = options[b"filename"].decode("utf-8", "replace")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.is_file:
            self.spool.write(data[start:end])
            return
        self.field_bytes += end - start
        if self.field_bytes > 65536:
            raise DomainError(ErrorCode.VALIDATION, "Form fields besides the file are too large")

    def on_end(self) -> None:
        self.ended = True


async def _multipart(request: Request, spool: Spool, boundary: bytes) -> str | None:
    form = _FormReader(spool)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": form.on_part_begin,
            "on_header_field": form.on_header_field,
            "on_header_value": form.on_header_value,
            "on_header_end": form.on_header_end,
            "on_headers_finished": form.on_headers_finished,
            "on_part_data": form.on_part_data,
            "on_end": form.on_end,
        },
    )
    async for chunk in request.stream():
        try:
            parser.write(chunk)
        except DomainError:
            raise
        except Exception as exc:  # python-multipart's parse errors
            raise DomainError(
                ErrorCode.VALIDATION, f"The multipart body is malformed: {exc}"
            ) from None
    parser.finalize()
    if not form.ended:
        raise incomplete("The multipart body ended before its closing boundary (truncated)")
    if form.files == 0:
        raise DomainError(ErrorCode.VALIDATION, "The multipart body has no file part", field="file")
    return form.file_name
