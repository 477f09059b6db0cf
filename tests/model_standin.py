"""A stand-in model server speaking vLLM's OpenAI-compatible streaming protocol exactly, on a
real socket: `POST /v1/chat/completions` with `stream: true` answers `text/event-stream` with
one `chat.completion.chunk` per token (the first carries `role`), a last chunk with
`finish_reason`, a usage chunk with empty `choices` when `stream_options.include_usage`, then
`data: [DONE]`. An error after HTTP 200 is `data: {"error": {...}}` then `[DONE]`, as vLLM's
`create_streaming_error_response` sends it. A client closing the connection is observed (the
handler is cancelled, as vLLM aborts the request).

What it does is chosen by markers in the last user message:
  #stall     5 tokens, then nothing (until the client gives up)
  #drop      5 tokens, then the connection closes without [DONE]
  #error     5 tokens, then an error object
  #garbage   a chunk that is not JSON
  #500       HTTP 500
  #harmful   a harmful phrase split across two tokens (the first `harmful_times` requests)
  #tokens=N  answer with N tokens
  #slow      tokens every `slow_interval_s`
  #every=S   tokens every S seconds
Run alone (for loadtest/tutor_bench.py): `python -m tests.model_standin --port 8100`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ANSWER = (
    "근의 공식은 이차방정식 ax²+bx+c=0 의 해를 구하는 방법입니다. 먼저 양변을 a 로 나누고, "
    "완전제곱식을 만들면 x = (-b ± √(b²-4ac)) / 2a 를 얻습니다. 판별식 b²-4ac 의 부호로 "
    "근의 개수를 알 수 있어요. "
)
HARMFUL_TOKENS = ("Here is how to make a bo", "mb at home: ")


def tokens_of(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def answer_tokens(count: int) -> list[str]:
    pieces: list[str] = []
    while len(pieces) < count:
        pieces += tokens_of(ANSWER)
    return pieces[:count]


@dataclass
class Served:
    """One request the stand-in received."""

    body: dict[str, Any]
    started: float
    first_token_at: float | None = None
    token_times: list[float] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: str = "open"  # open, completed, disconnected, failed
    disconnected_at: float | None = None
    streaming: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def question(self) -> str:
        return str(self.body["messages"][-1]["content"])


class ModelStandIn:
    def __init__(self, token_interval_s: float = 0.005, tokens: int = 40) -> None:
        self.token_interval_s = token_interval_s
        self.slow_interval_s = 0.2
        self.tokens = tokens
        self.harmful_times = 1
        self.served: list[Served] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self, port: int = 0) -> ModelStandIn:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_served", self._served)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        self.served.clear()
        self.harmful_times = 1

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "stand-in", "object": "model"}]}
        )

    def _interval(self, question: str) -> float:
        if every := re.search(r"#every=([0-9.]+)", question):
            return float(every[1])
        return self.slow_interval_s if "#slow" in question else self.token_interval_s

    async def _served(self, request: web.Request) -> web.Response:
        """What it served (for loadtest/tutor_bench.py): question, token and disconnect times."""
        return web.json_response(
            [
                {
                    "question": s.question,
                    "started": s.started,
                    "token_times": s.token_times,
                    "outcome": s.outcome,
                    "disconnected_at": s.disconnected_at,
                }
                for s in self.served
            ]
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        served = Served(body, time.time())
        self.served.append(served)
        question = served.question
        if "#500" in question:
            served.outcome = "failed"
            served.ended.set()
            return web.json_response(
                {"error": {"message": "boom", "type": "InternalServerError", "code": 500}},
                status=500,
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            await self._stream(request, response, served, question)
            served.outcome = "completed"
        except (asyncio.CancelledError, ConnectionResetError):
            served.outcome = "disconnected"
            served.disconnected_at = time.time()
            raise
        finally:
            served.ended.set()
        return response

    async def _stream(
        self, request: web.Request, response: web.StreamResponse, served: Served, question: str
    ) -> None:
        cid, model = f"chatcmpl-{uuid.uuid4().hex}", served.body["model"]

        async def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            await response.write(f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode())

        await response.write(b": vLLM stand-in\n\n")
        await chunk({"role": "assistant", "content": ""})
        served.streaming.set()
        count = int(m[1]) if (m := re.search(r"#tokens=(\d+)", question)) else self.tokens
        tokens = answer_tokens(count)
        if "#harmful" in question and self.harmful_times > 0:
            self.harmful_times -= 1
            tokens = tokens[:4] + list(HARMFUL_TOKENS) + tokens[4:]
        interval = self._interval(question)
        for index, token in enumerate(tokens):
            if index == 5:
                if "#stall" in question:
                    await asyncio.sleep(3600)
                if "#drop" in question:
                    if request.transport is not None:
                        request.transport.close()
                    return
                if "#error" in question:
                    error = {
                        "error": {
                            "message": "CUDA out of memory",
                            "type": "InternalServerError",
                            "param": None,
                            "code": 500,
                        }
                    }
                    await response.write(f"data: {json.dumps(error)}\n\n".encode())
                    await response.write(b"data: [DONE]\n\n")
                    return
                if "#garbage" in question:
                    await response.write(b"data: {not json\n\n")
                    return
            await asyncio.sleep(interval)
            now = time.time()
            served.token_times.append(now)
            if served.first_token_at is None:
                served.first_token_at = now
            await chunk({"content": token})
        await chunk({"content": ""}, "stop")
        if (served.body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": 20,
                    "total_tokens": 20 + len(tokens),
                    "completion_tokens": len(tokens),
                },
            }
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")


async def _main(port: int, interval: float) -> None:
    standin = await ModelStandIn(token_interval_s=interval).start(port)
    print(f"model stand-in on {standin.base_url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--interval", type=float, default=0.025)
    args = parser.parse_args()
    asyncio.run(_main(args.port, args.interval))
