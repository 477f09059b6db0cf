"""A class roster imported from CSV: students and parents get accounts, parents are linked to
their children (approved by the school); a bad file changes nothing."""

from __future__ import annotations

import httpx

from tests.exam_support import make_class
from tests.support import Factory, error_of

ROSTER = """role,name,email,student_email,language
student,김민준,minjun@roster.dreamseed.kr,,
student,이서연,seoyeon@roster.dreamseed.kr,,
parent,김민준 어머니,minjun.mom@roster.dreamseed.kr,minjun@roster.dreamseed.kr,
parent,Seoyeon's father,seoyeon.dad@roster.dreamseed.kr,seoyeon@roster.dreamseed.kr,en
"""


async def test_roster_creates_students_and_parents_with_approved_links(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Four accounts with first passwords, students in the class, two approved parent links;
    a parent logs in and sees the link; the import is audited."""
    org = await factory.org()
    admin = await factory.user("org_admin", org)
    class_id = await make_class(factory, org, [])
    response = await api.post(
        f"/classes/{class_id}/roster", headers=admin.headers, json={"csv": ROSTER}
    )
    assert response.status_code == 201, response.text
    result = response.json()
    assert [(c["line"], c["role"]) for c in result["created"]] == [
        (2, "student"),
        (3, "student"),
        (4, "parent"),
        (5, "parent"),
    ]
    assert result["skipped"] == [] and len(result["links"]) == 2
    students = await factory.fetch(
        "SELECT u.email FROM class_members cm JOIN users u ON u.id = cm.user_id "
        "WHERE cm.class_id = $1 ORDER BY u.email",
        class_id,
    )
    assert [r["email"] for r in students] == [
        "minjun@roster.dreamseed.kr",
        "seoyeon@roster.dreamseed.kr",
    ]
    dad = next(c for c in result["created"] if c["email"] == "seoyeon.dad@roster.dreamseed.kr")
    credentials = {"email": dad["email"], "password": dad["initial_password"]}
    # The school attested the enrollment; the person's own consent is asked at first sign-in.
    first = await api.post("/auth/login", json=credentials)
    assert first.status_code == 403 and error_of(first)["code"] == "consent_required"
    assert error_of(first)["missing"] == ["terms_of_service", "privacy_policy", "data_processing"]
    attested = await factory.fetch(
        "SELECT kind, granted, source, recorded_by FROM consents WHERE user_id = $1::uuid",
        dad["user_id"],
    )
    assert [tuple(r) for r in attested] == [("data_processing", True, "school", admin.id)]
    consents = [
        {"kind": kind, "version": "2026-01", "granted": True}
        for kind in ("terms_of_service", "privacy_policy", "data_processing")
    ]
    login = await api.post("/auth/login", json={**credentials, "consents": consents})
    assert login.status_code == 200, login.text
    links = await api.get(
        "/links", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert [(lk["status"], lk["org_id"]) for lk in links.json()["items"]] == [
        ("approved", str(org.id))
    ]
    assert (
        await factory.fetchval("SELECT language FROM users WHERE id = $1::uuid", dad["user_id"])
        == "en"
    )
    assert (
        await factory.fetchval("SELECT count(*) FROM audit_log WHERE action = 'roster.import'") == 1
    )


async def test_existing_accounts_outside_the_school_are_skipped(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """An address with an account elsewhere is skipped (invite them); a member is placed."""
    org = await factory.org()
    admin = await factory.user("org_admin", org)
    member = await factory.user("student", org)
    outsider = await factory.user("parent", await factory.org())
    class_id = await make_class(factory, org, [])
    text = (
        "role,name,email,student_email\n"
        f"student,Member,{member.email},\n"
        f"parent,Outsider,{outsider.email},{member.email}\n"
    )
    response = await api.post(
        f"/classes/{class_id}/roster", headers=admin.headers, json={"csv": text}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(c["user_id"], c["initial_password"]) for c in body["created"]] == [
        (str(member.id), None)
    ]
    assert [(s["line"], s["email"]) for s in body["skipped"]] == [(3, outsider.email)]
    assert body["links"] == []
    assert (
        await factory.fetchval(
            "SELECT count(*) FROM memberships WHERE user_id = $1 AND org_id = $2",
            outsider.id,
            org.id,
        )
        == 0
    )


async def test_a_bad_roster_names_its_lines_and_changes_nothing(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A bad role, a parent without a child, a repeated address: 422 naming each line; a
    teacher is refused; nothing is stored."""
    org = await factory.org()
    admin, teacher = await factory.user("org_admin", org), await factory.user("teacher", org)
    class_id = await make_class(factory, org, [])
    text = (
        "role,name,email,student_email\n"
        "student,A,a@roster.dreamseed.kr,\n"
        "principal,B,b@roster.dreamseed.kr,\n"
        "parent,C,c@roster.dreamseed.kr,\n"
        "student,D,a@roster.dreamseed.kr,\n"
    )
    before = await factory.snapshot()
    bad = await api.post(f"/classes/{class_id}/roster", headers=admin.headers, json={"csv": text})
    assert bad.status_code == 422
    fields = {f["field"] for f in error_of(bad)["fields"]}
    assert fields == {"csv.line3", "csv.line4", "csv.line5"}
    no_header = await api.post(
        f"/classes/{class_id}/roster", headers=admin.headers, json={"csv": "a,b\n1,2\n"}
    )
    assert no_header.status_code == 422
    orphan = (
        "role,name,email,student_email\nparent,P,p@roster.dreamseed.kr,nobody@roster.dreamseed.kr\n"
    )
    unknown_child = await api.post(
        f"/classes/{class_id}/roster", headers=admin.headers, json={"csv": orphan}
    )
    assert unknown_child.status_code == 422
    refused = await api.post(
        f"/classes/{class_id}/roster", headers=teacher.headers, json={"csv": ROSTER}
    )
    assert refused.status_code == 403
    assert await factory.snapshot() == before
