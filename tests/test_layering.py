"""The import rules of ARCHITECTURE.md and STYLE.md, read from the source: nothing imports
upward, a transport never imports another (api/app.py assembles them), the domain knows no
Socket.IO, and the core's shared infrastructure knows no exams."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The demo seed is a tool the CLI runs: it writes the demo school's exams on purpose.
_INFRA_MAY_KNOW_EXAMS = {"hub/seed.py"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules(*folders: str) -> list[tuple[str, set[str]]]:
    return [
        (str(p.relative_to(ROOT)), _imports(p))
        for folder in folders
        for p in sorted((ROOT / folder).rglob("*.py"))
    ]


def _under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _violations(modules: list[tuple[str, set[str]]], *forbidden: str) -> list[str]:
    return [
        f"{path} imports {name}"
        for path, names in modules
        for name in sorted(names)
        if _under(name, *forbidden)
    ]


@pytest.mark.parametrize(
    ("folders", "forbidden"),
    [
        (("schema",), ("hub", "api", "workers")),
        (("hub",), ("api", "workers")),
        (("workers",), ("api", "hub.sockets")),
    ],
    ids=["schema-imports-nothing-above", "hub-imports-no-transport-above", "workers-no-sockets"],
)
def test_nothing_imports_upward_or_across(
    folders: tuple[str, ...], forbidden: tuple[str, ...]
) -> None:
    """schema/ imports none of the others, hub/ neither api/ nor workers/, workers/ no socket."""
    assert _violations(_modules(*folders), *forbidden) == []


def test_only_api_app_assembles_the_socket_transport() -> None:
    """REST routes import neither the Socket.IO transport nor the workers; api/app.py may."""
    routes = [(p, n) for p, n in _modules("api") if p != "api/app.py"]
    assert _violations(routes, "hub.sockets", "workers") == []


def test_the_domain_knows_no_socketio() -> None:
    """hub/<context>/ publishes through the bus interface, never through Socket.IO."""
    domain = [
        (p, n) for p, n in _modules("hub") if p.count("/") >= 2 and not p.startswith("hub/sockets/")
    ]
    assert _violations(domain, "hub.sockets", "socketio", "engineio") == []


def test_shared_infrastructure_knows_no_exams() -> None:
    """hub/*.py (context, services, ...) import nothing of hub/exams/: the assemblers wire it."""
    infra = [
        (p, n) for p, n in _modules("hub") if p.count("/") == 1 and p not in _INFRA_MAY_KNOW_EXAMS
    ]
    assert _violations(infra, "hub.exams") == []
