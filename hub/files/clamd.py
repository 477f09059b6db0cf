"""ClamAV's daemon over its INSTREAM protocol (tcp://host:port or unix:///path/to/socket).

The file is streamed in length-prefixed chunks, never read whole; the reply is
"stream: OK", "stream: <signature> FOUND", or an error. A daemon that cannot be reached or
does not answer in time raises `ClamdUnavailableError`: the caller keeps the file pending.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 16


class ClamdUnavailableError(Exception):
    """clamd is down, slow, or answered with an error: try again later."""


@dataclass(frozen=True)
class Verdict:
    clean: bool
    signature: str | None = None


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if url.startswith("unix://"):
        return await asyncio.open_unix_connection(url.removeprefix("unix://"))
    host, _, port = url.removeprefix("tcp://").rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def scan(url: str, path: Path, timeout_s: float) -> Verdict:
    try:
        return await asyncio.wait_for(_scan(url, path), timeout_s)
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
        raise ClamdUnavailableError(f"clamd at {url} failed: {exc!r}") from exc


async def _scan(url: str, path: Path) -> Verdict:
    reader, writer = await _connect(url)
    try:
        writer.write(b"zINSTREAM\0")
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                writer.write(struct.pack(">I", len(chunk)) + chunk)
                await writer.drain()
        writer.write(struct.pack(">I", 0))
        await writer.drain()
        reply = (await reader.readuntil(b"\0")).rstrip(b"\0").decode("utf-8", "replace")
    finally:
        writer.close()
    return parse_reply(reply)


def parse_reply(reply: str) -> Verdict:
    _, _, result = reply.partition(": ")
    if result == "OK":
        return Verdict(True)
    if result.endswith(" FOUND"):
        return Verdict(False, result.removesuffix(" FOUND"))
    raise ClamdUnavailableError(f"clamd answered {reply[:200]!r}")


async def ping(url: str, timeout_s: float = 2.0) -> bool:
    try:
        reader, writer = await asyncio.wait_for(_connect(url), timeout_s)
        try:
            writer.write(b"zPING\0")
            await writer.drain()
            return await asyncio.wait_for(reader.readuntil(b"\0"), timeout_s) == b"PONG\0"
        finally:
            writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
