"""Chaos under load, the CI form: two hub processes, the worker and a private Redis busy with
1:1 chats, a group, an announcement and a CAT in progress while Redis restarts empty, one hub
is cut off from Redis and a hub is SIGKILLed; nothing acknowledged is lost or doubled, every
connected client ends with every message, and every push owed is accounted for
(tests/chaos.py; the long form is loadtest/chaos.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import Settings
from tests.chaos import HEADER, RedisServer, Rig, hub_env, run_faults
from tests.hubs import _env
from tests.support import Factory

# The hub kill last: the killed hub's cold start (tens of seconds on a loaded machine) then
# overlaps nothing that needs two hubs.
FAULTS = ["Redis SIGKILL + restart empty", "Redis blackholed for hub 0 (5 s)", "hub SIGKILL"]


@pytest.mark.timeout(180)  # three hub processes' cold starts on a loaded machine
async def test_faults_under_load_lose_and_double_nothing(
    settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    """Each fault once under steady traffic: 0 lost, 0 duplicated, 0 missing at clients,
    /readyz red while Redis is gone, and no notification intent left behind."""
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    env = hub_env(_env(settings), redis.url, settings.postgres_dsn)
    rig = Rig(settings.postgres_dsn, redis, factory, env, tmp_path, verbose=True)
    try:
        await rig.start()
        rig.note("hubs and worker ready")
        await rig.populate(pairs=4, group=6, offline=2)
        rig.note("clients connected")
        rig.answer_rate = 2
        await rig.populate_exam(students=2, items=20)
        rig.run_traffic()
        outcomes = await run_faults(rig, FAULTS, runs=1)
        await rig.stop_traffic()
        owed = await rig.notifications_owed(wait_s=15)
        rig.note(f"notifications owed: {owed}")
    finally:
        await rig.close()
        redis.kill()
    table = "\n".join([HEADER, *(o.row() for o in outcomes)])
    print(table)
    assert all(o.acked > 0 for o in outcomes), table
    assert all(o.answers_acked > 0 for o in outcomes), table
    assert [
        (o.fault, o.lost, o.duplicated, o.missing_at_clients, o.answers_lost) for o in outcomes
    ] == [(f, 0, 0, 0, 0) for f in FAULTS], table
    assert outcomes[0].readyz_red_seen == 1, table
    assert owed == (0, 0)
