"""Malformed protocol input ends a connection cleanly, with one warning line and no traceback.

Found by fuzzing the raw websocket (tests/test_fuzz_protocol.py). Stock python-engineio and
python-socketio raise out of their decoders on malformed frames:

- engine.io (an empty frame, an unknown packet type, JSON nested 100,000 deep): the error
  escapes the ASGI app, uvicorn logs a traceback, and the socket's session stays registered
  until the ping timeout (~45 s) — a cheap way to pile up half-open connections;
- socket.io (broken JSON, an event that is not a named array, a placeholder past the
  attachments): a traceback is logged per frame and the connection goes on;
- a socket.io packet may announce up to 10^10 binary attachments, and the server keeps every
  frame sent after it in memory until that many have arrived.

Here an engine.io frame that cannot be decoded closes its connection (an engine.io CLOSE, then
the websocket's own close); a socket.io packet
that cannot be decoded, or announces more attachments than an event can use, disconnects the
client. The overridden upstream code is fingerprinted in tests/test_upstream_contract.py.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import msgpack_packet
from socketio import packet as sio_packet

logger = logging.getLogger("dreamseed.sockets")
# No client event takes files (they go through /files); a client library may still send a
# bytes value as an attachment, which validation then refuses with an error ack.
MAX_ATTACHMENTS = 10
_DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, RecursionError)
_stock_eio_decode = eio_packet.Packet.decode
_stock_receive = AsyncSocket.receive
_installed = False


def _eio_decode_or_close(self: Any, encoded_packet: Any) -> None:
    try:
        _stock_eio_decode(self, encoded_packet)
        if not 0 <= self.packet_type < len(eio_packet.packet_names):
            raise ValueError(f"engine.io packet type {self.packet_type} does not exist")
    except _DECODE_ERRORS as exc:
        logger.warning("undecodable engine.io frame (%s): closing its connection", exc)
        self.packet_type, self.data, self.binary = eio_packet.NOOP, None, False
        self.malformed = True


async def _receive_or_close(self: Any, pkt: Any) -> None:
    if getattr(pkt, "malformed", False):
        # Tell the client (CLOSE), then end the read loop: it closes the websocket itself.
        await self.close(wait=False, reason=self.server.reason.TRANSPORT_ERROR)
        raise eio_exceptions.SocketIsClosedError()
    await _stock_receive(self, pkt)


def install() -> None:
    """Make engine.io close a connection whose frame it cannot decode, instead of raising."""
    global _installed
    if not _installed:
        eio_packet.Packet.decode = _eio_decode_or_close
        AsyncSocket.receive = _receive_or_close
        _installed = True


class GuardedPacket(sio_packet.Packet):  # type: ignore[misc]
    """socket.io packets as the stock class decodes them, refusing what no client sends."""

    def decode(self, encoded_packet: Any) -> int:
        attachments = int(super().decode(encoded_packet) or 0)
        if attachments > MAX_ATTACHMENTS:
            raise ValueError(f"{attachments} binary attachments (at most {MAX_ATTACHMENTS})")
        if self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT) and not (
            isinstance(self.data, list) and self.data and isinstance(self.data[0], str)
        ):
            raise ValueError("an event is an array that starts with the event's name")
        return attachments


class GuardedMsgPackPacket(msgpack_packet.MsgPackPacket):  # type: ignore[misc]
    """The opt-in msgpack wire (SOCKETIO_SERIALIZER=msgpack), with the same event check."""

    def decode(self, encoded_packet: Any) -> int:
        super().decode(encoded_packet)
        if self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT) and not (
            isinstance(self.data, list) and self.data and isinstance(self.data[0], str)
        ):
            raise ValueError("an event is an array that starts with the event's name")
        return 0


class GuardedServer(socketio.AsyncServer):  # type: ignore[misc]
    """The stock server; a socket.io packet it cannot take disconnects its sender."""

    def __init__(self, serializer: Any = GuardedPacket, **kwargs: Any) -> None:
        super().__init__(serializer=serializer, **kwargs)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except _DECODE_ERRORS as exc:
            # Event handlers run as tasks and answer every failure with an error ack, so what
            # is raised here is the packet itself being malformed.
            self._binary_packet.pop(eio_sid, None)
            logger.warning("malformed socket.io packet (%s): disconnecting its sender", exc)
            await self.eio.disconnect(eio_sid)
