"""Per-process services of the domain (a cache, an engine), keyed by their type.

The core's HubContext carries them without knowing any: the places that assemble a process
(api/app.py for the hub, workers/main.py for the worker) add each one, and the domain module
that owns a service reads it back by its type.
"""

from __future__ import annotations

from typing import TypeVar, cast

T = TypeVar("T")


class Components:
    def __init__(self) -> None:
        self._by_type: dict[type, object] = {}

    def add(self, component: object) -> None:
        self._by_type[type(component)] = component

    def get(self, kind: type[T]) -> T:
        try:
            return cast(T, self._by_type[kind])
        except KeyError:
            raise LookupError(
                f"No {kind.__name__} was wired into this process (see api/app.py, workers/main.py)"
            ) from None
