"""Which methods a path allows, across every route that serves it: the `Allow` header of a
405 and the answer to OPTIONS.

Starlette answers a method mismatch with the methods of the first route whose path matched,
so a path served by two endpoints (GET and POST /conversations) listed only one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.routing import compile_path


class AllowedMethods:
    def __init__(self, routes: Iterable[tuple[str, str]]) -> None:
        """`routes`: (full path template, method) pairs."""
        self._routes: list[tuple[re.Pattern[str], str]] = [
            (compile_path(path)[0], method.upper()) for path, method in routes
        ]

    def of(self, path: str) -> list[str]:
        """The methods `path` answers, HEAD with GET and OPTIONS always; [] for no route."""
        methods = {method for regex, method in self._routes if regex.match(path)}
        if not methods:
            return []
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"})
