"""No log line per websocket opened, as `--no-access-log` gives none per HTTP request.

uvicorn logs every accepted websocket at INFO on `uvicorn.error` (a logger that also carries
its start-up and error lines, so its level stays), and the websockets library logs
"connection open" at INFO: at a hub restart that is thousands of lines a second, and the
formatting and writing was ~8 % of the hub's CPU per connection (py-spy, loadtest/README.md).
With LOG_LEVEL=debug both come back.
"""

from __future__ import annotations

import logging

# uvicorn's websocket protocols log these templates (with the client and the path).
_PER_CONNECTION = frozenset(
    {
        '%s - "WebSocket %s" [accepted]',
        '%s - "WebSocket %s" 403',
        '%s - "WebSocket %s" %d',
    }
)


class _PerConnectionLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in _PER_CONNECTION


_FILTER = _PerConnectionLines()


def quiet_connection_logs(log_level: str) -> None:
    if log_level.lower() == "debug":
        return
    uvicorn_error = logging.getLogger("uvicorn.error")
    if _FILTER not in uvicorn_error.filters:
        uvicorn_error.addFilter(_FILTER)
    logging.getLogger("websockets").setLevel(logging.WARNING)
