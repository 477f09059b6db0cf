"""A lean Socket.IO v5 / Engine.IO v4 client over a raw WebSocket, for generating load.

python-socketio's own AsyncClient spends tens of microseconds of CPU per received event
(its packet classes, an asyncio task per event, the websocket library's per-frame
machinery), so one load-generating core cannot keep up with the hub it is measuring. This
client speaks just enough of the protocols to drive the hub:

* WebSocket (RFC 6455): the HTTP/1.1 upgrade, unmasked server frames (fragmented ones are
  reassembled), masked client frames, ping/pong and close. No extensions are offered, so the
  server never compresses.
* Engine.IO v4 over the ``websocket`` transport only: ``0{open}`` from the server, ``2``
  (ping) answered with ``3`` (pong), ``1`` (close), ``4<socket.io packet>`` (message).
* Socket.IO v5 on the default namespace ``/``: ``40{auth}`` to connect, ``40{"sid":..}`` or
  ``44{error}`` in answer, events ``42["event",data]``, emits with ack ``42<id>["event",data]``
  answered by ``43<id>[data]``. Binary attachments are not supported (the hub sends none).

Everything for a received packet happens synchronously inside ``data_received``: no task,
future or queue per message. Event and ack handlers are plain callbacks that receive the
time the chunk arrived (``time.perf_counter()``, read once per chunk).

Two front ends share the codec: :class:`LeanSocket` (asyncio, used by ``hub_bench.py``) and
:class:`SyncLeanSocket` (blocking sockets plus a reader thread, which gevent turns into
greenlets inside locust). :class:`ReconnectingSocket` wraps a LeanSocket and, when it drops,
opens a new one after socket.io-client's jittered exponential delays (:class:`Backoff`).
Only the standard library is needed; ``orjson`` is used when installed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

try:  # pragma: no cover - depends on the environment
    import orjson  # type: ignore[import-not-found, unused-ignore]

    def loads(data: bytes | str) -> Any:
        return orjson.loads(data)

    def dumps(value: Any) -> bytes:
        encoded: bytes = orjson.dumps(value)
        return encoded

except ImportError:  # pragma: no cover
    import json

    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def loads(data: bytes | str) -> Any:
        # Decoding first skips json's encoding detection: ~30 % cheaper for bytes.
        return json.loads(data.decode() if isinstance(data, bytes) else data)

    def dumps(value: Any) -> bytes:
        return _encoder.encode(value).encode()


OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# (event, data, arrival time) -> None
EventHandler = Callable[[str, Any, float], None]
# (ack payload, arrival time) -> None
AckHandler = Callable[[Any, float], None]
# (the event packet's JSON array, unparsed, arrival time) -> None
RawEventHandler = Callable[[bytes, float], None]


def raw_string_field(raw: bytes, name: bytes) -> bytes | None:
    """The value of the first string field ``name`` in raw JSON, without parsing it.

    A cheap way for a load client to pick out one field (``client_msg_id``) of a large
    event: JSON escapes quotes inside strings, so ``"name":`` can only be a key. The first
    such key wins (fine for the hub's flat message events); escapes in the value are kept.
    """
    at = raw.find(b'"' + name + b'":')
    if at < 0:
        return None
    start = raw.find(b'"', at + len(name) + 3)
    if start < 0:
        return None
    end = raw.find(b'"', start + 1)
    return raw[start + 1 : end] if end > 0 else None


class Refused(Exception):
    """The hub refused the namespace connection (``44``); ``data`` is what it said."""

    def __init__(self, data: Any) -> None:
        super().__init__(str(data))
        self.data = data


class ProtocolError(Exception):
    """The peer said something this client does not understand."""


# --- WebSocket codec ------------------------------------------------------------------------


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    # XOR as one big integer: far cheaper in CPython than a byte loop.
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return header + key + _mask(payload, key)


class FrameDecoder:
    """Turns a byte stream into complete messages ``(opcode, payload)``."""

    __slots__ = ("_buf", "_frag_op", "_frags")

    def __init__(self) -> None:
        self._buf = b""
        self._frag_op = -1
        self._frags: list[bytes] = []

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            masked = b1 & 0x80
            if masked:
                head += 4
            end = pos + head + length
            if end > size:
                break
            payload = buf[pos + head : end]
            if masked:  # servers must not mask, but be lenient
                payload = _mask(payload, buf[pos + head - 4 : pos + head])
            opcode = b0 & 0x0F
            pos = end
            if not b0 & 0x80:  # a fragment: first or middle
                if opcode != OP_CONT:
                    self._frag_op = opcode
                self._frags.append(payload)
                continue
            if opcode == OP_CONT:
                self._frags.append(payload)
                out.append((self._frag_op, b"".join(self._frags)))
                self._frags = []
                continue
            out.append((opcode, payload))
        self._buf = buf[pos:] if pos < size else b""
        return out


def upgrade_request(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    """The HTTP upgrade request and the Sec-WebSocket-Accept value it must be answered with."""
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())  # noqa: S324 - RFC 6455
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    return request, accept


def check_upgrade(head: bytes, accept: bytes) -> None:
    status, _, rest = head.partition(b"\r\n")
    if not status.startswith(b"HTTP/1.1 101"):
        raise ProtocolError(f"upgrade refused: {status.decode(errors='replace')}")
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-accept" and value.strip() == accept:
            return
    raise ProtocolError("upgrade answered without the right Sec-WebSocket-Accept")


def socketio_path(path: str = "/socket.io/") -> str:
    return f"{path}?EIO=4&transport=websocket"


# --- Socket.IO on top of Engine.IO ------------------------------------------------------------


class _SocketIOCore:
    """Protocol state shared by the asyncio and the blocking front ends."""

    def __init__(self, auth: dict[str, Any] | None, on_event: EventHandler | None) -> None:
        self.auth = auth
        self.on_event: EventHandler | None = on_event
        # When set, events are handed over unparsed (and on_event is not called).
        self.on_raw_event: RawEventHandler | None = None
        self.sid: str | None = None
        self.open_packet: dict[str, Any] = {}
        self.received = 0  # Socket.IO events received
        self._decoder = FrameDecoder()
        self._acks: dict[int, AckHandler] = {}
        self._next_ack = 0

    # subclasses provide these
    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _on_connected(self) -> None:
        raise NotImplementedError

    def _on_refused(self, data: Any) -> None:
        raise NotImplementedError

    def _on_closed(self) -> None:
        raise NotImplementedError

    # -- sending --------------------------------------------------------------------------
    def send_text(self, text: bytes) -> None:
        self._write(encode_frame(OP_TEXT, text))

    def emit(self, event: str, data: Any, ack: AckHandler | None = None) -> None:
        """``42["event",data]``, or ``42<id>[...]`` when an ack handler is given."""
        if ack is None:
            self.send_text(b"42" + dumps([event, data]))
            return
        self._next_ack += 1
        ack_id = self._next_ack
        self._acks[ack_id] = ack
        self.send_text(b"42" + str(ack_id).encode() + dumps([event, data]))

    @property
    def pending_acks(self) -> int:
        return len(self._acks)

    # -- receiving ------------------------------------------------------------------------
    def _frames(self, data: bytes, now: float) -> None:
        for opcode, payload in self._decoder.feed(data):
            if opcode == OP_TEXT:
                self._engineio(payload, now)
            elif opcode == OP_PING:
                self._write(encode_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._on_closed()
                return

    def _engineio(self, p: bytes, now: float) -> None:
        kind = p[0]
        if kind == 0x34:  # "4": a Socket.IO packet
            self._socketio(p, now)
        elif kind == 0x32:  # "2": ping (maybe "2probe")
            self.send_text(b"3" + p[1:])
        elif kind == 0x30:  # "0": open
            self.open_packet = loads(p[1:])
            self.send_text(b"40" + (dumps(self.auth) if self.auth is not None else b""))
        elif kind == 0x31:  # "1": close
            self._on_closed()

    def _socketio(self, p: bytes, now: float) -> None:
        kind = p[1]
        if kind == 0x32:  # "2": event, maybe with an ack id the server wants answered
            start = 2
            while p[start] != 0x5B:  # "["; ack ids from the server are ignored
                start += 1
            self.received += 1
            if self.on_raw_event is not None:
                self.on_raw_event(p[start:], now)
                return
            payload = loads(p[start:])
            if self.on_event is not None:
                self.on_event(payload[0], payload[1] if len(payload) > 1 else None, now)
        elif kind == 0x33:  # "3": ack
            start = 2
            while p[start] != 0x5B:
                start += 1
            handler = self._acks.pop(int(p[2:start]), None)
            if handler is not None:
                payload = loads(p[start:])
                handler(payload[0] if payload else None, now)
        elif kind == 0x30:  # "0": namespace connected
            self.sid = loads(p[2:]).get("sid")
            self._on_connected()
        elif kind == 0x34:  # "4": connect error
            self._on_refused(loads(p[2:]) if len(p) > 2 else None)
        elif kind == 0x31:  # "1": the server disconnected us from the namespace
            self._on_closed()


class LeanSocket(_SocketIOCore, asyncio.Protocol):
    """One Socket.IO connection as an asyncio protocol. Use :meth:`open` to make one."""

    def __init__(
        self,
        host: str,
        port: int,
        auth: dict[str, Any] | None,
        on_event: EventHandler | None = None,
        path: str = "/socket.io/",
        on_raw_event: RawEventHandler | None = None,
    ) -> None:
        super().__init__(auth, on_event)
        self.on_raw_event = on_raw_event
        loop = asyncio.get_running_loop()
        self.host, self.port = host, port
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._request, self._accept = upgrade_request(host, port, socketio_path(path))
        self._head = b""
        self._upgraded = False

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        token: str,
        on_event: EventHandler | None = None,
        wait_s: float = 10.0,
        on_raw_event: RawEventHandler | None = None,
    ) -> LeanSocket:
        """Connect and wait for the namespace answer; raise Refused or TimeoutError."""
        loop = asyncio.get_running_loop()
        proto = cls(host, port, {"token": token}, on_event, on_raw_event=on_raw_event)
        try:
            async with asyncio.timeout(wait_s):
                await loop.create_connection(lambda: proto, host, port)
                await proto.ready
        except BaseException:
            proto.abort()
            raise
        return proto

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, hence the cast.
        self.transport = cast("asyncio.Transport", transport)
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self._upgraded:
            self._head += data
            head, sep, rest = self._head.partition(b"\r\n\r\n")
            if not sep:
                return
            try:
                check_upgrade(head, self._accept)
            except ProtocolError as exc:
                self._fail(exc)
                return
            self._upgraded, self._head = True, b""
            data = rest
            if not data:
                return
        self._frames(data, now)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- core hooks -----------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _on_connected(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def _on_refused(self, data: Any) -> None:
        self._fail(Refused(data))
        self.abort()

    def _on_closed(self) -> None:
        self._fail(ConnectionError("closed by the server"))
        self.abort()

    def _fail(self, exc: BaseException) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
            self.ready.exception()  # mark retrieved: a refused socket nobody awaits is fine

    # -- conveniences ---------------------------------------------------------------------
    async def call(self, event: str, data: Any, wait_s: float = 10.0) -> Any:
        """Emit with ack and wait for the answer (a future per call: not for hot paths).

        Raises ConnectionError when the connection is lost first: its ack can never come."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(payload: Any, now: float) -> None:
            if not future.done():
                future.set_result(payload)

        def dropped(_: asyncio.Future[None]) -> None:
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost before the {event} ack"))

        if self.closed.done():
            raise ConnectionError(f"connection lost before the {event} ack")
        self.closed.add_done_callback(dropped)
        try:
            self.emit(event, data, done)
            return await asyncio.wait_for(future, wait_s)
        finally:
            self.closed.remove_done_callback(dropped)

    def close(self) -> None:
        """A polite close: Socket.IO disconnect, WebSocket close frame, then FIN."""
        if self.transport is None or self.transport.is_closing():
            return
        self.send_text(b"41")
        self._write(encode_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


# --- reconnecting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts, as socket.io-client computes them: `first_s`
    doubled per failed attempt, capped at `max_s`, then scaled by a random factor in
    [1 - jitter, 1] so that clients dropped together do not come back together."""

    first_s: float = 1.0
    max_s: float = 5.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt `attempt` (0: the first after the drop)."""
        base = min(self.max_s, self.first_s * 2.0 ** min(attempt, 30))
        return base * (1 - self.jitter * rng.random())


def failure_reason(exc: BaseException) -> str:
    """A short, countable name for why an attempt to connect failed."""
    if isinstance(exc, Refused):
        code = exc.data.get("code") if isinstance(exc.data, dict) else None
        message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
        return f"refused: {code or message}"
    if isinstance(exc, ProtocolError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__


# Called once the socket is connected again (before anything else is sent on it).
UpHandler = Callable[["ReconnectingSocket"], Awaitable[None]]


class ReconnectingSocket:
    """A client that comes back by itself, as a socket.io client does: when its connection
    drops (not when closed with :meth:`close`) it waits a :class:`Backoff` delay, tries to
    connect, and repeats until it is in; then it awaits `on_up` (to resync, say).

    Nothing runs while connected: a task exists only between a drop and the next connection,
    so ten thousand idle clients cost no more than ten thousand LeanSockets.
    """

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        on_raw_event: RawEventHandler | None,
        backoff: Backoff,
        rng: random.Random,
        failures: Counter[str],
        on_up: UpHandler | None = None,
        wait_s: float = 20.0,
    ) -> None:
        self.host, self.port, self.token = host, port, token
        self.on_raw_event = on_raw_event
        self.backoff, self.rng, self.wait_s = backoff, rng, wait_s
        self.failures = failures  # shared by many clients: attempts that failed, by reason
        self.on_up = on_up
        self.sock: LeanSocket | None = None
        self.drops = 0  # connections lost
        self.attempts = 0  # connection attempts after drops, failed or not
        self.up_at: float | None = None  # perf_counter() of the last (re)connection
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def attach(self, sock: LeanSocket) -> ReconnectingSocket:
        """Take over an already open socket (the first connection is the caller's)."""
        self.sock = sock
        sock.closed.add_done_callback(lambda _: self._lost(sock))
        return self

    def _lost(self, sock: LeanSocket) -> None:
        if self._stopped or sock is not self.sock:
            return
        self.sock = None
        self.drops += 1
        self._task = asyncio.ensure_future(self._come_back())

    async def _come_back(self) -> None:
        attempt = 0
        while not self._stopped:
            await asyncio.sleep(self.backoff.delay(attempt, self.rng))
            attempt += 1
            self.attempts += 1
            try:
                sock = await LeanSocket.open(
                    self.host, self.port, self.token, None, self.wait_s, self.on_raw_event
                )
            except (OSError, TimeoutError, Refused, ProtocolError) as exc:
                self.failures[failure_reason(exc)] += 1
                continue
            if self._stopped:
                sock.close()
                return
            self.up_at = time.perf_counter()
            self._task = None
            self.attach(sock)
            if self.on_up is not None:
                await self.on_up(self)
            return

    def close(self) -> None:
        """Close for good: no reconnection."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
        if self.sock is not None:
            self.sock.close()


class SyncLeanSocket(_SocketIOCore):
    """The same client on blocking sockets and a reader thread (gevent makes both cooperative).

    Handlers run on the reader thread. :meth:`call` blocks until the ack arrives.
    """

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        on_event: EventHandler | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__({"token": token}, on_event)
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._reader: threading.Thread | None = None
        self.is_closed = False

    def connect(self) -> SyncLeanSocket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        request, accept = upgrade_request(self.host, self.port, socketio_path())
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the upgrade")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        check_upgrade(head, accept)
        sock.settimeout(None)
        self._sock = sock
        self._reader = threading.Thread(target=self._read_loop, args=(rest,), daemon=True)
        self._reader.start()
        if not self._ready.wait(self.timeout):
            self.close()
            raise TimeoutError("no namespace answer")
        if self._error is not None:
            self.close()
            raise self._error
        return self

    def _read_loop(self, first: bytes) -> None:
        sock = self._sock
        assert sock is not None
        data = first
        try:
            while not self.is_closed:
                if data:
                    self._frames(data, time.perf_counter())
                data = sock.recv(65536)
                if not data:
                    break
        except OSError as exc:
            if self._error is None:
                self._error = exc
        finally:
            self._on_closed()

    def _write(self, data: bytes) -> None:
        if self._sock is None or self.is_closed:
            return
        with self._lock:
            self._sock.sendall(data)

    def _on_connected(self) -> None:
        self._ready.set()

    def _on_refused(self, data: Any) -> None:
        self._error = Refused(data)
        self._ready.set()

    def _on_closed(self) -> None:
        if self._error is None and not self._ready.is_set():
            self._error = ConnectionError("closed by the server")
        self.is_closed = True
        self._ready.set()

    def call(self, event: str, data: Any, timeout: float | None = None) -> Any:
        done = threading.Event()
        box: list[Any] = []

        def on_ack(payload: Any, now: float) -> None:
            box.append(payload)
            done.set()

        self.emit(event, data, on_ack)
        if not done.wait(timeout or self.timeout):
            raise TimeoutError(f"no ack for {event}")
        return box[0]

    def close(self) -> None:
        if self._sock is None:
            return
        if not self.is_closed:
            with contextlib.suppress(OSError):
                self.send_text(b"41")
                self._write(encode_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        self.is_closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
