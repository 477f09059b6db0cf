"""Erasure is complete and provable: nothing of the person left in any table, Redis key or
stored file; statistics kept under a pseudonym; a proof that names no one; twice is once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from uuid import UUID

import httpx
import pytest
from redis.asyncio import Redis

from hub.context import HubContext
from hub.files.storage import LocalStorage
from hub.privacy import erase
from hub.privacy.requests import Requester, open_erasure
from hub.settings import Settings
from tests.privacy_support import Footprint, footprint, found_in_database, found_in_redis
from tests.support import PASSWORD, Factory, cmid, error_of, post
from workers.privacy_jobs import retention_daily


async def _erase_self(api: httpx.AsyncClient, fp: Footprint) -> None:
    done = await api.request(
        "DELETE",
        "/users/me",
        headers=fp.person.headers,
        json={"password": PASSWORD, "confirm": "erase my account"},
    )
    assert done.status_code == 204, done.text


async def test_erasure_leaves_nothing_in_any_table_redis_key_or_file(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    redis: Redis,
    database_url: str,
    settings: Settings,
) -> None:
    """After DELETE /users/me the e-mail, name and message texts are found nowhere."""
    fp = await footprint(factory, api, hub_ctx, redis)
    before = await found_in_database(database_url, fp.needles)
    # The search finds the footprint before (so finding nothing after means something).
    assert {h.split(":")[0] for h in before} >= {
        "users.email",
        "users.display_name",
        "messages.content",
        "notifications.body",
        "audit_log.details",
        "files.name",
        "files.transcript",
        "tutor_requests.refused_question",
        "message_reports.reason",
    }
    assert await found_in_redis(redis, settings.redis_namespace, fp.needles)
    assert isinstance(hub_ctx.storage, LocalStorage)
    assert hub_ctx.storage.path_of(fp.file_key).exists()

    await _erase_self(api, fp)

    assert await found_in_database(database_url, fp.needles) == []
    assert await found_in_redis(redis, settings.redis_namespace, fp.needles) == []
    assert await redis.exists(hub_ctx.keys.presence(str(fp.person.id))) == 0
    assert not hub_ctx.storage.path_of(fp.file_key).exists()
    # Addresses and devices are gone too; consents stay as proof, without the IP.
    person = fp.person.id
    assert await factory.fetchval("SELECT count(*) FROM devices WHERE user_id = $1", person) == 0
    assert (
        await factory.fetchval(
            "SELECT count(*) FROM sessions WHERE user_id = $1 AND (ip IS NOT NULL "
            "OR user_agent IS NOT NULL OR revoked_at IS NULL)",
            person,
        )
        == 0
    )
    consents = await factory.fetch("SELECT ip, kind FROM consents WHERE user_id = $1", person)
    assert [(c["ip"], c["kind"]) for c in consents] == [(None, "privacy_policy")]
    assert (
        await factory.fetchval(
            "SELECT count(*) FROM audit_log WHERE actor_id = $1 AND ip IS NOT NULL", person
        )
        == 0
    )
    assert (
        await factory.fetchval("SELECT count(*) FROM proctor_events WHERE student_id = $1", person)
        == 0
    )
    # The teacher's notifications keep existing, without the name or the excerpts.
    bodies = await factory.fetch(
        "SELECT title, body FROM notifications WHERE user_id = $1 ORDER BY dedup_key",
        fp.teacher.id,
    )
    assert [r["body"] for r in bodies] == [f"{erase.ERASED_LABEL}: (삭제된 메시지)"] * 2


async def test_exam_results_keep_their_statistics_under_a_pseudonym(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, redis: Redis
) -> None:
    """Scores and answers stay for calibration; nothing points at the erased person any more."""
    fp = await footprint(factory, api, hub_ctx, redis)
    await _erase_self(api, fp)
    rows = await factory.fetch(
        """SELECT a.student_id, a.score, n.student_id AS answer_student, n.correct, u.email
           FROM attempts a JOIN answers n ON n.attempt_id = a.id JOIN users u ON u.id = a.student_id
           WHERE a.exam_id = $1""",
        fp.exam_id,
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["student_id"] != fp.person.id and row["answer_student"] == row["student_id"]
    assert (row["score"], row["correct"]) == (1, True)
    assert row["email"].startswith("pseudonym-")
    pseudonym = await factory.fetchval(
        "SELECT pseudonym_id FROM erasures WHERE subject_id = $1", fp.person.id
    )
    assert pseudonym == row["student_id"]
    tutor = await factory.fetch("SELECT user_id, prompt_tokens, model FROM tutor_requests")
    assert [(r["user_id"], r["prompt_tokens"]) for r in tutor] == [(pseudonym, 12)]


async def test_the_proof_counts_per_table_and_names_no_one(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    redis: Redis,
    settings: Settings,
) -> None:
    """The erasure record and its audit entry: counts, an HMAC of the identifiers, who asked."""
    fp = await footprint(factory, api, hub_ctx, redis)
    await _erase_self(api, fp)
    row = (await factory.fetch("SELECT * FROM erasures WHERE subject_id = $1", fp.person.id))[0]
    assert row["status"] == "done" and row["requested_role"] == "self"
    assert row["requested_by"] == fp.person.id and row["finished_at"] is not None
    counts = json.loads(row["counts"]) if isinstance(row["counts"], str) else row["counts"]
    assert counts["messages"] == 2 and counts["devices"] == 1 and counts["attempts"] == 1
    assert counts["tutor_requests"] == 1 and counts["stored_files"] == 1
    assert counts["users"] == 1 and counts["notifications"] >= 3
    expected = hmac.new(
        settings.jwt_secret.encode(),
        json.dumps([str(fp.person.id), fp.person.email, fp.name], ensure_ascii=False).encode(),
        hashlib.sha256,
    ).hexdigest()
    assert row["subject_hash"] == expected
    entries = await factory.fetch(
        "SELECT target_type, target_id, details::text AS details FROM audit_log "
        "WHERE action = 'user.erase'"
    )
    assert len(entries) == 1 and entries[0]["target_id"] == str(row["id"])
    assert expected in entries[0]["details"]
    assert fp.person.email not in entries[0]["details"] and fp.name not in entries[0]["details"]


async def test_an_admin_asks_twice_and_gets_one_erasure_done_by_the_worker_job(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    redis: Redis,
    database_url: str,
) -> None:
    """An org admin's request is one erasure however often it is asked; the job completes it."""
    fp = await footprint(factory, api, hub_ctx, redis)
    admin = await factory.user("org_admin", fp.org)
    first = await api.post(f"/users/{fp.person.id}/erasure", headers=admin.headers)
    again = await api.post(f"/users/{fp.person.id}/erasure", headers=admin.headers)
    assert first.status_code == 202, first.text
    assert first.json()["id"] == again.json()["id"] and first.json()["status"] == "requested"
    assert first.json()["requested_role"] == "org_admin"
    erasure_id = UUID(first.json()["id"])
    # The job, run twice at once (a retried job racing the first): one erasure, same counts.
    counts = await asyncio.gather(erase.run(hub_ctx, erasure_id), erase.run(hub_ctx, erasure_id))
    assert counts[0] == counts[1] and counts[0]["messages"] == 2
    assert await found_in_database(database_url, fp.needles) == []
    proof = await api.get(f"/erasures/{erasure_id}", headers=admin.headers)
    assert proof.status_code == 200 and proof.json()["status"] == "done"
    assert proof.json()["counts"] == counts[0]
    # Once done, asking again changes nothing and says so.
    third = await api.post(f"/users/{fp.person.id}/erasure", headers=admin.headers)
    assert third.json()["status"] == "done" and third.json()["id"] == str(erasure_id)
    assert await factory.fetchval("SELECT count(*) FROM audit_log WHERE action = 'user.erase'") == 1


async def test_who_may_ask_for_an_erasure(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """A teacher or an admin of only one of two schools is refused; another school's admin is
    told the person does not exist (a 403 would tell an outsider who exists)."""
    org, other = await factory.org(), await factory.org()
    student = await factory.user("student", org)
    teacher = await factory.user("teacher", org)
    outsider = await factory.user("org_admin", other)
    admin = await factory.user("org_admin", org)
    both = await factory.user("student", org)
    await factory.fetch(
        "INSERT INTO memberships (org_id, zone_id, user_id, role) VALUES ($1, $2, $3, 'student')",
        other.id,
        other.zone_id,
        both.id,
    )
    before = await factory.snapshot()
    for asker, target in ((teacher, student), (admin, both)):
        refused = await api.post(f"/users/{target.id}/erasure", headers=asker.headers)
        assert refused.status_code == 403, refused.text
        assert error_of(refused)["code"] == "forbidden"
    hidden = await api.post(f"/users/{student.id}/erasure", headers=outsider.headers)
    assert hidden.status_code == 404 and error_of(hidden)["code"] == "not_found", hidden.text
    own = await api.post(f"/users/{admin.id}/erasure", headers=admin.headers)
    assert own.status_code == 422
    assert await factory.snapshot() == before
    sys_admin = await factory.user(sys_admin=True)
    done = await api.post(f"/users/{both.id}/erasure", headers=sys_admin.headers)
    assert done.status_code == 202 and done.json()["requested_role"] == "sys_admin"
    # A teacher may not read the proof; an admin of one of the person's schools may.
    proof = await api.get(f"/erasures/{done.json()['id']}", headers=teacher.headers)
    assert proof.status_code == 404
    readable = await api.get(f"/erasures/{done.json()['id']}", headers=outsider.headers)
    assert readable.status_code == 200


async def test_erasure_while_the_person_is_sending_leaves_no_text(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Sends racing the erasure are either refused or blanked: no text of theirs survives."""
    org = await factory.org()
    person, friend = await factory.user("student", org), await factory.user("student", org)
    conv = await factory.conversation("direct", org, [], [person, friend])
    async with hub_ctx.db.system() as conn:
        erasure = await open_erasure(conn, hub_ctx, person.id, person.id, Requester.SELF)

    started = asyncio.Event()

    async def keep_sending() -> list[int]:
        codes = []
        for i in range(40):
            sent = await post(api, person, str(conv), f"racing {i}", client_msg_id=cmid())
            codes.append(sent.status_code)
            if i == 3:
                started.set()
        return codes

    async def erase_soon() -> erase.Counts:
        await asyncio.wait_for(started.wait(), 10)
        return await erase.run(hub_ctx, erasure.id)

    codes, counts = await asyncio.gather(keep_sending(), erase_soon())
    # Stored, or refused: the session revoked (401), no longer a member (404/403).
    assert set(codes) <= {201, 401, 403, 404} and codes[:4] == [201] * 4
    left = await factory.fetchval(
        "SELECT count(*) FROM messages WHERE sender_id = $1 AND content <> ''", person.id
    )
    assert left == 0
    seqs = [r["seq"] for r in await factory.fetch("SELECT seq FROM messages ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert counts["messages"] == codes.count(201)


async def test_an_erasure_killed_halfway_resumes_and_counts_each_row_once(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    redis: Redis,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run dying after its message step leaves a running erasure; the next run finishes it."""
    fp = await footprint(factory, api, hub_ctx, redis)
    async with hub_ctx.db.system() as conn:
        erasure = await open_erasure(conn, hub_ctx, fp.person.id, fp.person.id, Requester.SELF)

    async def dies(ctx: HubContext, subject: erase.Subject) -> erase.Counts:
        raise ConnectionError("worker killed")

    steps = list(erase.STEPS)
    monkeypatch.setattr(erase, "STEPS", [*steps[:2], ("files", dies), *steps[3:]])
    with pytest.raises(ConnectionError):
        await erase.run(hub_ctx, erasure.id)
    row = (await factory.fetch("SELECT status, counts FROM erasures"))[0]
    assert row["status"] == "running" and json.loads(row["counts"])["messages"] == 2
    # The identity is still there: the redaction of others' rows needs it on the next run.
    assert await factory.fetchval("SELECT email FROM users WHERE id = $1", fp.person.id) == (
        fp.person.email
    )
    monkeypatch.setattr(erase, "STEPS", steps)
    counts = await erase.run(hub_ctx, erasure.id)
    assert counts["messages"] == 2 and counts["stored_files"] == 1
    assert await found_in_database(database_url, fp.needles) == []


async def test_the_daily_job_finishes_erasures_left_unfinished(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """An erasure whose job was lost is completed by the next daily retention run."""
    org = await factory.org()
    person = await factory.user("student", org)
    async with hub_ctx.db.system() as conn:
        await open_erasure(conn, hub_ctx, person.id, None, Requester.SYS_ADMIN)
    assert await retention_daily({"hub": hub_ctx, "job_try": 1}) == 0
    assert await factory.fetchval("SELECT status FROM erasures") == "done"
    assert await factory.fetchval("SELECT email FROM users WHERE id = $1", person.id) == (
        f"erased-{person.id}@invalid"
    )


async def test_redaction_reaches_the_family_and_leaves_a_namesake_elsewhere_alone(
    factory: Factory, hub_ctx: HubContext
) -> None:
    """A parent's notifications naming the erased child (even over a rejected link) lose the
    name; a student of the same name in another school keeps their own notifications."""
    org, elsewhere = await factory.org(), await factory.org()
    child, parent = await factory.user("student", org), await factory.user("parent", org)
    namesake_parent = await factory.user("parent", elsewhere)
    await factory.fetch("UPDATE users SET display_name = '김하늘' WHERE id = $1", child.id)
    await factory.fetch(
        """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                     requested_at, expires_at)
           VALUES ($1, $2, $3, $4, 'rejected', now(), now())""",
        org.id,
        org.zone_id,
        parent.id,
        child.id,
    )
    for who in (parent, namesake_parent):
        await factory.fetch(
            """INSERT INTO notifications (user_id, dedup_key, kind, title, body, collapse_key)
               VALUES ($1, 'r', 'exam_result', '시험 결과', $2, 'r')""",
            who.id,
            "김하늘 학생의 ‘수학’ 결과: 8점",
        )
    async with hub_ctx.db.system() as conn:
        erasure = await open_erasure(conn, hub_ctx, child.id, None, Requester.SYS_ADMIN)
    await erase.run(hub_ctx, erasure.id)
    bodies = {
        r["user_id"]: r["body"]
        for r in await factory.fetch("SELECT user_id, body FROM notifications")
    }
    assert bodies == {
        parent.id: f"{erase.ERASED_LABEL} 학생의 ‘수학’ 결과: 8점",
        namesake_parent.id: "김하늘 학생의 ‘수학’ 결과: 8점",
    }
