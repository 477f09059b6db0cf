"""Settings come from the environment; a bad one stops start-up with a message naming it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hub.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCESS_TOKEN_TTL_S", "-5"),
        ("DATABASE_URL", "mysql://root@localhost/db"),
        ("REDIS_URL", "http://localhost"),
        ("JWT_SECRET", "too-short"),
        ("PORT", "99999"),
        ("RATE_LIMIT_PER_MINUTE", "lots"),
    ],
)
def test_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """Each invalid variable is reported by its own name."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_missing_runtime_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A serving process without URLs or secret names what is missing."""
    for name in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError, match="DATABASE_URL, REDIS_URL, JWT_SECRET"):
        load_settings().require_runtime()


def test_cli_refuses_bad_setting_with_exit_code_2() -> None:
    """`dreamseed migrate` with a bad setting exits 2 and names the setting on stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "migrate"],
        env={"PATH": "/usr/bin:/bin", "DB_POOL_MAX": "zero"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DB_POOL_MAX" in result.stderr
