"""Measure the two python-socketio patches of this folder against the installed release.

    python contrib/python-socketio/bench.py            # both measurements, stock and patched
    python contrib/python-socketio/bench.py --big      # mass disconnect up to 10,000 clients

The installed python-socketio is the stock side. The patched side is a copy of it in a
temporary folder with the patches applied by `patch`, imported first through PYTHONPATH;
each side runs in its own interpreter. Both drive the manager directly, with no network:
a send hands the packet to a list, as engine.io hands it to the socket's queue, so the
figures are the manager's own cost (what the patches change), not a server's end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PATCHES = sorted(HERE.glob("*.patch"))


def _patched_copy() -> Path:
    import socketio  # the installed release

    root = Path(tempfile.mkdtemp(prefix="socketio-patched-"))
    target = root / "socketio"
    shutil.copytree(Path(socketio.__file__).parent, target)
    for patch in PATCHES:  # paths in the patches: a/src/socketio/<file>
        subprocess.run(  # noqa: S603 - our own patch files
            ["patch", "-s", "-p3", "-d", str(target), "-i", str(patch)],  # noqa: S607
            check=True,
        )
    return root


async def _manager(n: int) -> tuple[Any, list[object], list[str]]:
    import socketio

    server = socketio.AsyncServer(async_mode="asgi")
    manager = socketio.AsyncManager()
    manager.set_server(server)
    manager.initialize()
    sink: list[object] = []

    async def send(eio_sid: str, pkt: object) -> None:
        sink.append(pkt)

    server._send_eio_packet = send
    sids = []
    for i in range(n):
        sid = await manager.connect(f"eio-{i}", "/")
        manager.basic_enter_room(sid, "/", "room")
        sids.append(sid)
    return manager, sink, sids


async def _emit(members: int, emits: int) -> dict[str, float]:
    manager, sink, _ = await _manager(members)
    started = time.perf_counter()
    for i in range(emits):
        await manager.emit("message.new", {"seq": i, "content": "x" * 200}, "/", room="room")
    elapsed = time.perf_counter() - started
    if len(sink) != members * emits:
        raise SystemExit(f"expected {members * emits} sends, saw {len(sink)}")
    return {"us_per_delivery": elapsed / (members * emits) * 1e6}


async def _disconnect(clients: int) -> dict[str, float]:
    manager, _, sids = await _manager(clients)
    started = time.perf_counter()
    for sid in sids:
        manager.pre_disconnect(sid, "/")
    for sid in sids:
        manager.basic_disconnect(sid, "/")
    elapsed = time.perf_counter() - started
    if "/" in manager.rooms:
        raise SystemExit("clients left behind in the namespace's rooms")
    return {"seconds": elapsed}


def _child(kind: str, size: int, runs: int) -> None:
    results = []
    for _ in range(runs):
        if kind == "emit":
            results.append(asyncio.run(_emit(size, 200))["us_per_delivery"])
        else:
            results.append(asyncio.run(_disconnect(size))["seconds"])
    print(json.dumps(results))


def _run(kind: str, size: int, runs: int, pythonpath: Path | None) -> list[float]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    out = subprocess.run(  # noqa: S603 - this interpreter, this script
        [sys.executable, __file__, "--child", kind, str(size), str(runs)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [float(v) for v in json.loads(out.strip().splitlines()[-1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--big", action="store_true", help="mass disconnect of 10,000 too")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    from importlib.metadata import version

    patched = _patched_copy()
    print(
        f"python-socketio {version('python-socketio')}, CPython {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.2f}; {args.runs} runs each, median (all runs)"
    )
    cases = [("emit", 1000, "µs per delivery, room of 1,000, 200 emits")]
    sizes = [1000, 2000, 5000] + ([10000] if args.big else [])
    cases += [("disconnect", n, f"s to disconnect {n:,} clients") for n in sizes]
    for kind, size, label in cases:
        stock = _run(kind, size, args.runs, None)
        fixed = _run(kind, size, args.runs, patched)
        print(
            f"{label:45} stock {statistics.median(stock):9.3f} "
            f"({', '.join(f'{v:.3f}' for v in stock)})   patched {statistics.median(fixed):9.3f} "
            f"({', '.join(f'{v:.3f}' for v in fixed)})"
        )
    shutil.rmtree(patched, ignore_errors=True)


if __name__ == "__main__":
    main()
