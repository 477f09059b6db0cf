"""Streaming chat completions from an OpenAI-compatible server (vLLM, llama.cpp, Ollama, a
hosted API) over aiohttp.

`stream_chat` yields the answer's pieces as they arrive and raises `ModelError` with a kind
for everything that can go wrong: refused connection, an HTTP error, nothing before the
first-token timeout, a stall between tokens, an error object after HTTP 200 (vLLM sends one
as an SSE event), garbage, or a connection that drops before `[DONE]`. Leaving the iterator
early (a cancel, the output filter) closes the HTTP stream, which is how vLLM aborts a request.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp

from hub.tutor.sse import SseDecoder


class ModelErrorKind(StrEnum):
    CONNECT = "connect"
    HTTP_STATUS = "http_status"
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"  # noqa: S105 - not a secret
    STALL = "stall"
    UPSTREAM = "upstream_error"
    GARBAGE = "garbage"
    DROPPED = "dropped"


class ModelError(Exception):
    def __init__(self, kind: ModelErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status

    @property
    def server_down(self) -> bool:
        """The server could not take the request at all: another one may."""
        if self.kind is ModelErrorKind.CONNECT:
            return True
        return self.kind is ModelErrorKind.HTTP_STATUS and (self.status or 0) in (
            429,
            500,
            502,
            503,
            504,
        )


@dataclass(frozen=True)
class ModelServer:
    tier: str
    model: str
    base_url: str

    @property
    def completions_url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class Timeouts:
    connect_s: float
    first_token_s: float
    token_gap_s: float


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Finish:
    reason: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


Piece = Token | Finish | Usage
ChatMessage = dict[str, str]


def request_body(model: str, messages: list[ChatMessage], max_tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def stream_chat(
    session: aiohttp.ClientSession,
    server: ModelServer,
    messages: list[ChatMessage],
    *,
    max_tokens: int,
    timeouts: Timeouts,
    api_key: str | None = None,
) -> AsyncGenerator[Piece, None]:
    """The answer of `server` to `messages`, piece by piece (see the module docstring)."""
    headers = {"Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    started = time.monotonic()
    try:
        response = await session.post(
            server.completions_url,
            json=request_body(server.model, messages, max_tokens),
            headers=headers,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=timeouts.connect_s, sock_read=None
            ),
        )
    except (aiohttp.ClientConnectorError, aiohttp.ServerTimeoutError, OSError) as exc:
        raise ModelError(ModelErrorKind.CONNECT, f"{server.base_url}: {exc}") from None
    except TimeoutError:
        raise ModelError(ModelErrorKind.CONNECT, f"{server.base_url}: connect timed out") from None
    async with response:
        if response.status != 200:
            body = (await _read_some(response))[:300]
            raise ModelError(
                ModelErrorKind.HTTP_STATUS,
                f"{server.base_url} answered HTTP {response.status}: {body}",
                response.status,
            )
        async for piece in _pieces(response, started, timeouts):
            yield piece


async def _read_some(response: aiohttp.ClientResponse) -> str:
    try:
        async with asyncio.timeout(2):
            return (await response.content.read(2000)).decode("utf-8", "replace")
    except (TimeoutError, aiohttp.ClientError):
        return ""


async def _pieces(
    response: aiohttp.ClientResponse, started: float, timeouts: Timeouts
) -> AsyncIterator[Piece]:
    decoder = SseDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")("replace")
    deadline = started + timeouts.first_token_s
    first = True
    finished = False
    while True:
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                chunk = await response.content.readany()
        except TimeoutError:
            kind = ModelErrorKind.FIRST_TOKEN_TIMEOUT if first else ModelErrorKind.STALL
            limit = timeouts.first_token_s if first else timeouts.token_gap_s
            raise ModelError(kind, f"no token within {limit:g} s") from None
        except aiohttp.ClientError as exc:
            raise ModelError(ModelErrorKind.DROPPED, f"connection lost: {exc}") from None
        if not chunk:
            if finished:
                return
            raise ModelError(ModelErrorKind.DROPPED, "the stream ended before [DONE]")
        for event in decoder.feed(utf8.decode(chunk)):
            if event.data == "[DONE]":
                return
            for piece in parse_chunk(event.data):
                if isinstance(piece, Token):
                    first = False
                    deadline = time.monotonic() + timeouts.token_gap_s
                elif isinstance(piece, Finish):
                    finished = True
                yield piece


def _loop_time(monotonic_deadline: float) -> float:
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())


def parse_chunk(data: str) -> list[Piece]:
    """The pieces of one `data:` payload of a chat completion stream."""
    try:
        chunk = json.loads(data)
    except ValueError:
        raise ModelError(ModelErrorKind.GARBAGE, f"not JSON: {data[:80]!r}") from None
    if not isinstance(chunk, dict):
        raise ModelError(ModelErrorKind.GARBAGE, f"not a JSON object: {data[:80]!r}")
    error = chunk.get("error") or (chunk if chunk.get("object") == "error" else None)
    if error:
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ModelError(ModelErrorKind.UPSTREAM, f"the model server failed: {message}")
    pieces: list[Piece] = []
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise ModelError(ModelErrorKind.GARBAGE, f"no choices: {data[:80]!r}")
    for choice in choices[:1]:
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str) and content:
            pieces.append(Token(content))
        if choice.get("finish_reason"):
            pieces.append(Finish(str(choice["finish_reason"])))
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        pieces.append(
            Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        )
    return pieces
