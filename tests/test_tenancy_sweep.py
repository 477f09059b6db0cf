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


# --- ids in bodies and queries ---------------------------------------------------------------

# Zones are listed to everyone (GET /zones): a zone id is no other school's secret.
PUBLIC_ID_FIELDS = {"zone_id"}
# (caller, method, path with my school's ids, query, body): "@kind" is the id under test (the
# other school's, or one that exists nowhere), "=kind" my school's own id of that kind.
FIELD_CALLS: list[tuple[str, str, str, dict[str, Any], Any]] = [
    (
        "org_admin",
        "POST",
        "/organizations/=org_id/members",
        {},
        {"user_id": "@user_id", "role": "student"},
    ),
    (
        "teacher",
        "POST",
        "/conversations",
        {},
        {"kind": "group", "org_id": "=org_id", "title": "T", "member_ids": ["@user_id"]},
    ),
    (
        "teacher",
        "POST",
        "/conversations",
        {},
        {"kind": "group", "org_id": "@org_id", "title": "T", "member_ids": ["=user_id"]},
    ),
    (
        "teacher",
        "POST",
        "/conversations/=conversation_id/participants",
        {},
        {"user_ids": ["@user_id"]},
    ),
    (
        "teacher",
        "POST",
        "/conversations/=conversation_id/messages",
        {},
        {"client_msg_id": "#", "content": "x", "reply_to": "@message_id"},
    ),
    (
        "teacher",
        "POST",
        "/conversations/=conversation_id/messages",
        {},
        {"client_msg_id": "#", "message_type": "image", "attachment_ids": ["@file_id"]},
    ),
    ("teacher", "GET", "/search", {"q": "hello", "conversation_id": "@conversation_id"}, None),
    (
        "teacher",
        "POST",
        "/items",
        {},
        {"org_id": "@org_id", "stem": "s", "choices": ["a", "b"], "answer": 1},
    ),
    ("teacher", "GET", "/items", {"org_id": "@org_id"}, None),
    ("org_admin", "POST", "/items/recalibrate", {}, {"org_id": "@org_id"}),
    (
        "teacher",
        "POST",
        "/exams",
        {},
        {"org_id": "=org_id", "title": "E", "mode": "fixed", "item_ids": ["@item_id"]},
    ),
    (
        "teacher",
        "POST",
        "/exams",
        {},
        {
            "org_id": "=org_id",
            "title": "E",
            "mode": "fixed",
            "item_ids": ["=item_id"],
            "class_id": "@class_id",
        },
    ),
    (
        "teacher",
        "POST",
        "/exams",
        {},
        {"org_id": "@org_id", "title": "E", "mode": "fixed", "item_ids": ["=item_id"]},
    ),
    ("teacher", "GET", "/exams", {"org_id": "@org_id"}, None),
    ("student", "POST", "/attempts/=attempt_id/answers", {}, {"item_id": "@item_id", "choice": 1}),
    ("student", "POST", "/exams/=exam_id/submit", {"attempt_id": "@attempt_id"}, None),
    ("teacher", "GET", "/exams/=exam_id/results", {"student_id": "@user_id"}, None),
    ("teacher", "GET", "/dashboard/teacher", {"org_id": "@org_id"}, None),
    ("teacher", "GET", "/dashboard/teacher", {"exam_id": "@exam_id"}, None),
    (
        "org_admin",
        "POST",
        "/organizations/=org_id/invitations",
        {},
        {"role": "student", "class_id": "@class_id"},
    ),
    ("teacher", "POST", "/files", {"org_id": "@org_id", "name": "a.txt"}, b"hello"),
    ("teacher", "POST", "/files/upload", {"org_id": "@org_id", "name": "a.txt"}, b"hello"),
    ("teacher", "POST", "/files/urls", {}, {"file_ids": ["@file_id"]}),
    (
        "student",
        "POST",
        "/tutor/questions",
        {},
        {"client_msg_id": "#", "question": "q?", "org_id": "@org_id"},
    ),
    (
        "student",
        "POST",
        "/tutor/questions",
        {},
        {"client_msg_id": "#", "question": "q?", "conversation_id": "@conversation_id"},
    ),
    ("teacher", "GET", "/tutor/usage", {"class_id": "@class_id"}, None),
    ("org_admin", "GET", "/tutor/refusals", {"org_id": "@org_id"}, None),
    ("teacher", "GET", "/tutor/conversations", {"student_id": "@user_id"}, None),
    ("teacher", "POST", "/users/me/export", {}, {"user_id": "@user_id"}),
    (
        "parent",
        "POST",
        "/consents",
        {},
        {"kind": "marketing", "version": "1", "granted": True, "user_id": "@user_id"},
    ),
]


def _id_fields() -> set[tuple[str, str, str]]:
    """(method, path, field) of every uuid in a request body or query, from the document."""
    defs = DOC["components"]["schemas"]

    def fields(schema: Any) -> set[str]:
        if "$ref" in schema:
            return fields(defs[schema["$ref"].rsplit("/", 1)[-1]])
        return {n for n, s in schema.get("properties", {}).items() if "'uuid'" in str(s)}

    found = set()
    for path, ops in DOC["paths"].items():
        for method, op in ops.items():
            names = {p["name"] for p in op["parameters"] if p["in"] == "query"}
            names = {
                n
                for n in names
                if "uuid" in str(next(p for p in op["parameters"] if p["name"] == n)["schema"])
            }
            if "requestBody" in op:
                names |= fields(op["requestBody"]["content"]["application/json"]["schema"])
            found |= {(method.upper(), path.removeprefix(API_PREFIX), n) for n in names}
    return found


def _template_path(path: str) -> str:
    return "/".join("{" + p[1:] + "}" if p.startswith("=") else p for p in path.split("/"))


def _swap(value: Any, mine: dict[str, str], under_test: dict[str, str]) -> Any:
    if isinstance(value, str) and value[:1] in ("@", "="):
        return (under_test if value[0] == "@" else mine)[value[1:]]
    if value == "#":
        return f"c-{secrets.token_hex(6)}"
    if isinstance(value, dict):
        return {k: _swap(v, mine, under_test) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, mine, under_test) for v in value]
    return value


async def test_ids_in_bodies_and_queries_hide_another_school(
    api: httpx.AsyncClient, factory: Factory, generous_limits: None
) -> None:
    """Every uuid a body or a query takes, set to another school's id, is refused exactly as an
    id that exists nowhere; a new such field fails here until FIELD_CALLS covers it."""
    a = await build_school(api, factory, "School A")
    b = await build_school(api, factory, "School B", zone="portal")
    covered = {
        (m, _template_path(p), k)
        for _, m, p, q, body in FIELD_CALLS
        for k, v in [*q.items(), *(body.items() if isinstance(body, dict) else [])]
        if isinstance(v, str | list) and "@" in str(v)
    }
    missing = {f for f in _id_fields() if f[2] not in PUBLIC_ID_FIELDS} - covered
    assert not missing, f"add a call to FIELD_CALLS for {sorted(missing)}"
    unknown = {n: _unknown(n) for n in b.ids}
    mine = {**a.ids, "user_id": str(a.student.id)}
    holes = []
    for role, method, path, query, body in FIELD_CALLS:
        user = {**a.people, "parent": a.parent}[role]
        answers = []
        for ids in (b.ids, unknown):
            url = "/".join(mine[p[1:]] if p.startswith("=") else p for p in path.split("/"))
            content = body if isinstance(body, bytes) else None
            response = await api.request(
                method,
                url,
                params=_swap(query, mine, ids),
                json=None if content is not None else _swap(body, mine, ids),
                content=content,
                headers=user.headers,
            )
            reply = response.json() if response.content else None
            if response.status_code < 400:
                # A filter may answer 200: then the replies must read alike, ids named by kind.
                reply = _replace(reply, {v: f"<{k}>" for k, v in ids.items()})
            else:
                reply = reply.get("error", {}).get("code") if isinstance(reply, dict) else None
            answers.append((response.status_code, reply))
            if ids is b.ids:
                sent = str(response.request.url) + response.request.content.decode(errors="ignore")
                leaked = _leaks(response.text, b, sent)
                if leaked:
                    holes.append(f"{role} {method} {path} {query} {body!r:.80}: names B's {leaked}")
        if answers[0] != answers[1]:
            holes.append(
                f"{role} {method} {path} {query} {body!r:.100}: "
                f"{answers[0]!r:.300} with B's id, {answers[1]!r:.300} with none"
            )
    assert not holes, "\n".join(holes)
