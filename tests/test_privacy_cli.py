"""`dreamseed privacy erased-ids` and `dreamseed privacy reapply`: the list kept beside the
backups is written, and whoever it names that a restore brought back is erased again, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hub import cli
from hub.settings import Settings
from tests.support import Factory


def _environment(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The command reads its settings from the environment, as in production."""
    for name, value in {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "JWT_SECRET": settings.jwt_secret,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "DATA_DIR": str(settings.data_dir),
    }.items():
        monkeypatch.setenv(name, value or "")


async def _run(*argv: str) -> int | str | None:
    """The command's exit status (it runs its own event loop, so in a thread)."""
    with pytest.raises(SystemExit) as ended:
        await asyncio.to_thread(cli.main, list(argv))
    return ended.value.code


async def test_reapply_erases_whoever_the_list_names_once_and_erased_ids_writes_it(
    factory: Factory,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A listed person who is back is erased (messages blanked, identity scrubbed); a second
    run finds nobody; erased-ids then lists them; a bad line is exit 2 naming the line."""
    _environment(monkeypatch, settings)
    org = await factory.org()
    person, friend = await factory.user("student", org), await factory.user("student", org)
    conv = await factory.conversation("group", org, [friend], [person])
    await factory.fetch(
        """INSERT INTO messages (conversation_id, zone_id, org_id, seq, change_seq, sender_id,
                                 client_msg_id, content)
           VALUES ($1, $2, $3, 1, 1, $4, 'c1', '복원된 비밀 메시지')""",
        conv,
        org.zone_id,
        org.id,
        person.id,
    )
    kept = tmp_path / "erased-ids.txt"
    kept.write_text(f"# beside backup 2026-12-01\n{person.id}\n\n")

    assert await _run("privacy", "reapply", str(kept)) == 0
    assert "erased again: 1 of 1 listed" in capsys.readouterr().out
    assert await factory.fetchval("SELECT email FROM users WHERE id = $1", person.id) == (
        f"erased-{person.id}@invalid"
    )
    assert (
        await factory.fetchval("SELECT content FROM messages WHERE conversation_id = $1", conv)
        == ""
    )
    assert await _run("privacy", "reapply", str(kept)) == 0
    assert "erased again: 0 of 1 listed" in capsys.readouterr().out

    written = tmp_path / "now.txt"
    assert await _run("privacy", "erased-ids", "--output", str(written)) == 0
    assert written.read_text() == f"{person.id}\n"

    kept.write_text(f"{person.id}\nnot-an-id\n")
    assert await _run("privacy", "reapply", str(kept)) == 2
    assert "line 2 is not a user id: 'not-an-id'" in capsys.readouterr().err
