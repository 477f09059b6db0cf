"""System programs that some tests need (Chromium, clamd, espeak-ng, ffmpeg).

On a fresh machine the README's test command skips such a test with the reason. `.ci/run`
installs the programs and sets DREAMSEED_REQUIRE_PROGRAMS=1, under which a missing program
fails the test instead: a green CI then proves the tests really ran.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ENV = "DREAMSEED_REQUIRE_PROGRAMS"

# Where Debian puts programs that are not on a root shell's PATH.
_EXTRA_DIRS = ("/usr/sbin", "/usr/bin", "/usr/lib/chromium")


def programs_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def find_program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _EXTRA_DIRS:
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def require_program(name: str, package: str) -> str:
    """The path of `name`; skip the test (fail under CI) when it is absent."""
    path = find_program(name)
    if path is not None:
        return path
    reason = f"system program {name!r} not found (apt-get install {package})"
    if programs_required():
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 makes this a failure", pytrace=False)
    pytest.skip(reason)
