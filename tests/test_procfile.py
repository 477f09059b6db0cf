"""The Procfile's `web` process, run as a platform would run it, serves the hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from hub.settings import Settings
from tests.hubs import HubProcess, _free_port, _wait_ready

ROOT = Path(__file__).resolve().parents[1]


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_procfile_web_process_starts_the_hub(settings: Settings, tmp_path: Path) -> None:
    """`web` from the Procfile, run by a shell with PORT set, answers /readyz and the API."""
    port, log = _free_port(), tmp_path / "web.log"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "DATABASE_URL": settings.postgres_dsn,
        "REDIS_URL": settings.redis_dsn,
        "JWT_SECRET": settings.jwt_secret,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "LOG_LEVEL": "warning",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - the repository's own Procfile line
            ["/bin/sh", "-c", "exec " + _procfile()["web"]],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    web = HubProcess(f"http://127.0.0.1:{port}", proc, log)
    try:
        _wait_ready(web)
        assert httpx.get(f"{web.url}/api/v1/openapi.json", timeout=5).status_code == 200
    finally:
        web.stop()
