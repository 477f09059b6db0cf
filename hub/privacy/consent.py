"""Consent at sign-up, and what a withdrawal does.

The terms, the privacy policy and the processing of personal data (REQUIRED) are each granted,
in their current version, before an account exists (the design's mandatory consents); each is
recorded with the request's address, like any later consent.

The rule for using the service (checked at every sign-in, `missing_at_sign_in`):
- A required consent whose latest decision by the person (or, for a child, by a parent with an
  approved link: the code holds no birth dates, so the link is how it knows who stands for a
  minor) is a withdrawal blocks the account: the withdrawal revokes every session and forgets
  the devices, and sign-in answers `consent_required`, naming the kinds, until they are
  granted again (sent with the sign-in). The data stays until an erasure is asked for (by the
  person at `POST /auth/erasure`, or by the school): a withdrawal is not an erasure, the school
  keeps its own legal basis for the records of its classes.
- An account a school made from its roster carries the school's attestation (source
  'school'): the school, as data controller, answers for the enrollment. It does not stand
  for the person: their own consent to every required kind is asked at their first sign-in.
- An account with no consent record at all (made by an operator with `createadmin`, the demo
  seed, or before consents were recorded) is not blocked: there is no decision to honour.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Final
from uuid import UUID

from hub import metrics
from hub.context import RequestMeta
from hub.db import Connection
from hub.errors import DomainError, ErrorCode
from schema.models.accounts import SignupConsent

REQUIRED: Final = ("terms_of_service", "privacy_policy", "data_processing")


class Source(StrEnum):
    SELF = "self"
    PARENT = "parent"
    SCHOOL = "school"


def check_signup(consents: Sequence[SignupConsent], version: str) -> None:
    """Refuse a sign-up that does not grant every required consent in its current version."""
    granted = {c.kind for c in consents if c.granted and c.version == version}
    missing = [kind for kind in REQUIRED if kind not in granted]
    if missing:
        metrics.PRIVACY_REFUSALS.labels("signup_consent_missing").inc()
        raise DomainError(
            ErrorCode.VALIDATION,
            f"Consents {', '.join(missing)} (version {version}) must be granted to sign up",
            field="consents",
            missing=missing,
            version=version,
        )


async def record_signup(
    conn: Connection, user_id: UUID, consents: Sequence[SignupConsent], meta: RequestMeta
) -> None:
    """The person's own decisions (at sign-up, or sent again with a sign-in)."""
    await conn.executemany(
        """INSERT INTO consents (user_id, kind, version, granted, ip, user_agent, recorded_by)
           VALUES ($1, $2, $3, $4, $5::inet, $6, $1)""",
        [
            (user_id, c.kind, c.version, c.granted, meta.ip, (meta.user_agent or "")[:300] or None)
            for c in {c.kind: c for c in consents}.values()
        ],
    )


async def attest_enrollment(
    conn: Connection, user_ids: Sequence[UUID], by: UUID, version: str
) -> None:
    """The school, as data controller, answers for processing the data of the people it
    enrolls from its roster; their own consent is still asked at their first sign-in."""
    await conn.executemany(
        """INSERT INTO consents (user_id, kind, version, granted, source, recorded_by)
           VALUES ($1, 'data_processing', $2, true, 'school', $3)""",
        [(user_id, version, by) for user_id in user_ids],
    )


async def missing_at_sign_in(conn: Connection, user_id: UUID) -> list[str]:
    """The required kinds this person must grant before using the service (the rule above)."""
    rows = await conn.fetch(
        """SELECT kind,
                  (array_agg(granted ORDER BY recorded_at DESC, id DESC)
                      FILTER (WHERE source <> 'school'))[1] AS own,
                  bool_or(source = 'school') AS attested
           FROM consents WHERE user_id = $1 GROUP BY kind""",
        user_id,
    )
    own = {r["kind"]: r["own"] for r in rows}
    attested = any(r["attested"] for r in rows)
    return [
        kind
        for kind in REQUIRED
        if own.get(kind) is False or (attested and own.get(kind) is not True)
    ]


def consent_required(missing: Sequence[str], version: str) -> DomainError:
    metrics.PRIVACY_REFUSALS.labels("consent_required").inc()
    return DomainError(
        ErrorCode.CONSENT_REQUIRED,
        f"Consents {', '.join(missing)} (version {version}) must be granted to use the service:"
        " send them with the sign-in, or ask for the account's erasure",
        missing=list(missing),
        version=version,
    )
