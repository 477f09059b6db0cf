"""Issue 13: every route and every socket event that takes an id, called with another
school's ids, answers as if the id did not exist, and says nothing of the other school.

Generated from the OpenAPI document and the namespaces' CLIENT_EVENTS, so a new route or
event is swept without anyone remembering: a new kind of path id, or an event without a
payload here, fails the sweep until school B has an object of that kind.

Each call is paired with a control: the same call with every foreign id replaced by one that
exists nowhere. Both must be refused alike (same status, same error code): a difference is an
oracle telling an outsider what exists in another school, and a success is a hole.
"""

from __future__ import annotations

import secrets
from typing import Any
from uuid import uuid4

import httpx
import pytest
import socketio

from api.app import API_PREFIX, ENDPOINTS
from api.openapi import build_openapi
from hub.sockets import namespace, proctor
from tests.fuzz_support import generous_limits
from tests.fuzz_world import School, build_school, event_seeds
from tests.support import Factory

__all__ = ["generous_limits"]  # a fixture, imported for the tests below
DOC = build_openapi(ENDPOINTS, API_PREFIX, "1")
# Valid bodies for operations that take an id in the path and a body ("{name}" is school B's
# id of that name): a refusal must come from the id, not from the body.
BODIES: dict[str, dict[str, Any]] = {
    "POST /organizations/{org_id}/members": {"user_id": "{user_id}", "role": "student"},
    "POST /organizations/{org_id}/classes": {"name": "Sneaky"},
    "PUT /organizations/{org_id}/settings": {"profanity": "off"},
    "POST /organizations/{org_id}/invitations": {"role": "student"},
    "POST /conversations/{conversation_id}/participants": {"user_ids": ["{user_id}"]},
    "POST /conversations/{conversation_id}/messages": {"client_msg_id": "x-1", "content": "hi"},
    "POST /conversations/{conversation_id}/read": {"seq": 1},
    "PUT /conversations/{conversation_id}/notification-settings": {"muted": True},
    "PUT /messages/{message_id}": {"content": "edited"},
    "POST /messages/{message_id}/report": {"reason": "rude"},
    "PUT /items/{item_id}": {"stem": "changed"},
    "POST /items/{item_id}/parameters/review": {"version": 1, "accept": True},
    "PATCH /exams/{exam_id}": {"title": "changed"},
    "POST /attempts/{attempt_id}/answers": {"item_id": "{item_id}", "choice": 1},
    "POST /reports/{report_id}/resolve": {"action": "dismiss"},
    "POST /classes/{class_id}/roster": {"csv": "email,role\nx@y.kr,student\n"},
    "PUT /tutor/settings/{org_id}": {"enabled": False},
}
# Required query parameters of operations that take an id in the path.
QUERIES: dict[str, dict[str, str]] = {
    "GET /exports/{export_id}": {"token": "t" * 40},
    "GET /files/{file_id}/signed": {"variant": "file", "expires": "9999999999", "sig": "0" * 64},
}


def _unknown(name: str) -> str:
    """An id of this parameter's kind that exists nowhere."""
    if name == "report_id":
        return str(10**15 + secrets.randbelow(10**9))
    if name == "token":
        return f"fcm-{secrets.token_hex(16)}"
    return str(uuid4())


def _fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str) and template.startswith("{") and template.endswith("}"):
        return ids[template[1:-1]]
    if isinstance(template, dict):
        return {k: _fill(v, ids) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, ids) for v in template]
    return template


def _operations() -> list[tuple[str, str, list[str]]]:
    """(method, path under the API prefix, path parameter names) of every operation with ids."""
    found = []
    for path, ops in DOC["paths"].items():
        for method, op in ops.items():
            names = [p["name"] for p in op["parameters"] if p["in"] == "path"]
            if names:
                found.append((method.upper(), path.removeprefix(API_PREFIX), names))
    return found


async def _call(
    api: httpx.AsyncClient, method: str, path: str, ids: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    key = f"{method} {path}"
    url = path.format(**ids)
    body = _fill(BODIES[key], ids) if key in BODIES else None
    return await api.request(method, url, json=body, params=QUERIES.get(key), headers=headers)


def _leaks(text: str, school: School, sent: str) -> list[str]:
    """B's ids in a reply that were not in the request (an echo of the caller's input is no
    leak); report numbers are too short to search for."""
    return [
        name
        for name, value in school.ids.items()
        if name != "report_id" and value in text and value not in sent
    ]


async def test_every_route_hides_another_schools_ids(
    api: httpx.AsyncClient, factory: Factory, generous_limits: None
) -> None:
    """School A's admin, teacher and student call every route that takes an id with school
    B's ids: refused exactly as for an id that exists nowhere, and nothing of B in the reply."""
    a = await build_school(api, factory, "School A")
    b = await build_school(api, factory, "School B", zone="portal")
    ops = _operations()
    kinds = {n for _, _, names in ops for n in names}
    assert kinds <= set(b.ids), f"school B needs an object for {sorted(kinds - set(b.ids))}"
    needs_body = [
        f"{m} {p}"
        for m, p, _ in ops
        if "requestBody" in DOC["paths"][API_PREFIX + p][m.lower()] and f"{m} {p}" not in BODIES
    ]
    assert not needs_body, f"add a valid body to BODIES for {needs_body}"
    holes = []
    unknown = {n: _unknown(n) for n in b.ids}
    for role, user in a.people.items():
        for method, path, _ in ops:
            foreign = await _call(api, method, path, b.ids, user.headers)
            control = await _call(api, method, path, unknown, user.headers)
            code = foreign.json().get("error", {}).get("code") if foreign.content else None
            control_code = control.json().get("error", {}).get("code") if control.content else None
            if (foreign.status_code, code) != (control.status_code, control_code):
                holes.append(
                    f"{role} {method} {path}: {foreign.status_code} {code} with school B's ids, "
                    f"{control.status_code} {control_code} with unknown ones"
                )
            elif foreign.status_code < 400:
                holes.append(f"{role} {method} {path}: {foreign.status_code} with B's ids")
            leaked = _leaks(
                foreign.text, b, str(foreign.request.url) + foreign.request.content.decode()
            )
            if leaked:
                holes.append(f"{role} {method} {path}: the reply names B's {leaked}")
    assert not holes, "\n".join(holes)


def _replace(value: Any, table: dict[str, str]) -> Any:
    if isinstance(value, str):
        return table.get(value, value)
    if isinstance(value, dict):
        return {_replace(k, table): _replace(v, table) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, table) for v in value]
    return value


async def _compare(
    holes: list[str],
    label: str,
    sio: socketio.AsyncClient,
    ns: str,
    event: str,
    seed: dict[str, Any],
    mine: School,
    theirs: School,
) -> None:
    """The ack to school B's ids must read exactly as the ack to ids that exist nowhere, once
    each id is replaced by the name of its kind (a batch event may answer per item)."""
    kinds = {v: k for k, v in mine.ids.items()} | {str(u.id): r for r, u in mine.people.items()}
    foreign_ids = {v: theirs.ids[k] for v, k in kinds.items() if k in theirs.ids}
    foreign_ids |= {str(u.id): str(theirs.people[r].id) for r, u in mine.people.items()}
    fresh = {v: str(uuid4()) for v in kinds}
    foreign = await _ack(sio, ns, event, _replace(seed, foreign_ids))
    control = await _ack(sio, ns, event, _replace(seed, fresh))
    named_foreign = _replace(
        foreign, {theirs_id: f"<{kinds[v]}>" for v, theirs_id in foreign_ids.items()}
    )
    named_control = _replace(control, {f: f"<{kinds[v]}>" for v, f in fresh.items()})
    if named_foreign != named_control:
        holes.append(
            f"{label}: {named_foreign!r:.300} with B's ids, {named_control!r:.300} with none"
        )


async def _ack(sio: socketio.AsyncClient, ns: str, event: str, data: Any) -> Any:
    return await sio.call(event, data, namespace=ns, timeout=10)


@pytest.mark.timeout(120)
async def test_every_event_hides_another_schools_ids(
    api: httpx.AsyncClient, factory: Factory, hub_server: tuple[str, Any]
) -> None:
    """Every socket event that carries an id, sent by school A's people with school B's ids,
    is refused exactly as with an id that exists nowhere; /proctor refuses B's exam and
    attempt at the door."""
    a = await build_school(api, factory, "School A")
    b = await build_school(api, factory, "School B", zone="portal")
    seeds = event_seeds(a)
    url = hub_server[0]
    holes: list[str] = []
    ids_of_a = set(a.ids.values()) | {str(u.id) for u in a.people.values()}

    def carries_ids(payload: Any) -> bool:
        return any(isinstance(v, str) and v in ids_of_a for v in _flat(payload))

    sockets: list[socketio.AsyncClient] = []
    try:
        for role in ("student", "teacher"):
            user = a.people[role]
            sio = socketio.AsyncClient(reconnection=False)
            sockets.append(sio)
            await sio.connect(url, auth={"token": user.token}, transports=["websocket"])
            events = [e for e in namespace.CLIENT_EVENTS if carries_ids(seeds[e])]
            for event in events:
                await _compare(holes, f"{role} {event}", sio, "/", event, seeds[event], a, b)
        watcher = socketio.AsyncClient(reconnection=False)
        sockets.append(watcher)
        await watcher.connect(
            url,
            auth={"token": a.teacher.token, "exam_id": a.ids["exam_id"]},
            namespaces=["/proctor"],
            transports=["websocket"],
        )
        for event in [e for e in proctor.PROCTOR_EVENTS if carries_ids(seeds[e])]:
            await _compare(
                holes, f"proctor {event}", watcher, "/proctor", event, seeds[event], a, b
            )
        for auth in (
            {"token": a.teacher.token, "exam_id": b.ids["exam_id"]},
            {"token": a.student.token, "attempt_id": b.ids["attempt_id"]},
        ):
            refusal = await _proctor_refusal(url, auth)
            control = await _proctor_refusal(
                url, {k: (v if k == "token" else str(uuid4())) for k, v in auth.items()}
            )
            if refusal != control or refusal == "connected":
                holes.append(f"/proctor connect {list(auth)[1]}: {refusal} vs {control}")
    finally:
        for sio in sockets:
            if sio.connected:
                await sio.disconnect()
    assert not holes, "\n".join(holes)


def _flat(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in (k, *_flat(v))]
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    return [value]


async def _proctor_refusal(url: str, auth: dict[str, Any]) -> Any:
    sio = socketio.AsyncClient(reconnection=False)
    refusals: list[Any] = []
    sio.on("connect_error", refusals.append, namespace="/proctor")
    try:
        await sio.connect(url, auth=auth, namespaces=["/proctor"], transports=["websocket"])
    except socketio.exceptions.ConnectionError as exc:
        data = refusals[0] if refusals else exc.args
        return data.get("code") if isinstance(data, dict) else repr(data)
    await sio.disconnect()
    return "connected"
