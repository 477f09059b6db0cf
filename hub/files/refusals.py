"""Why a file is refused: one exception, raised by every check, with the state it leads to."""

from __future__ import annotations

from hub.files.types import State


class FileRefusedError(Exception):
    """The bytes may not be shared; `reason` is for the uploader, `state` for the record."""

    def __init__(self, reason: str, state: State = State.REFUSED, check: str = "type") -> None:
        super().__init__(reason)
        self.reason = reason
        self.state = state
        # A short label for metrics: type, eicar, zip_bomb, macro, pdf_active, pixels, ...
        self.check = check


def infected(signature: str, check: str = "signature") -> FileRefusedError:
    return FileRefusedError(f"The file carries malware ({signature})", State.INFECTED, check)
