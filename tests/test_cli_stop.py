"""Ctrl-C in the terminal stops `dreamseed up` in dependency order: the hub and the worker
first, then Redis, so nothing logs a lost Redis connection on the way down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.test_cli_up import _free_port, _wait_ready


def test_ctrl_c_in_the_terminal_stops_redis_after_the_hub(tmp_path: Path) -> None:
    """SIGINT to the whole process group: Redis is stopped by `up` (SIGTERM), after the hub."""
    data_dir, log, port = tmp_path / "data", tmp_path / "up.log", _free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET")
    }
    env |= {"DATA_DIR": str(data_dir), "PORT": str(port)}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "up", "--no-seed"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal of its own: its group is what Ctrl-C reaches
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc, log)
        children = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
        _gone, alive = psutil.wait_procs(children, timeout=20)
        assert alive == [], alive
    finally:
        if proc.poll() is None:
            proc.kill()
    redis_log = (data_dir / "redis" / "redis.log").read_text()
    assert "Received SIGTERM" in redis_log and "Received SIGINT" not in redis_log
    assert "Cannot receive from redis" not in log.read_text()
