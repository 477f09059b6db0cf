"""Server-Sent Events, parsed as the WHATWG spec says: a pure incremental decoder.

Lines end in LF, CR or CRLF; a line starting with ':' is a comment (servers send them as
keep-alives); several `data:` lines of one event are joined with LF; a blank line ends the
event. Only `data` matters to chat completions; `event` and `id` are kept for completeness.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SseEvent:
    data: str
    event: str = "message"
    id: str | None = None


@dataclass
class SseDecoder:
    _buffer: str = ""
    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _id: str | None = None
    _pending_cr: bool = False

    def feed(self, chunk: str) -> list[SseEvent]:
        """Events completed by `chunk` (a chunk may end anywhere, even inside a CRLF)."""
        if self._pending_cr and chunk.startswith("\n"):
            chunk = chunk[1:]
        self._pending_cr = chunk.endswith("\r")
        text = self._buffer + chunk
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._buffer = lines.pop()
        events: list[SseEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SseEvent("\n".join(self._data), self._event or "message", self._id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    @property
    def unfinished(self) -> bool:
        """Bytes of an event arrived without the blank line that ends it."""
        return bool(self._data or self._buffer)
