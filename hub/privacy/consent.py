"""Consent at sign-up: the terms, the privacy policy and the processing of personal data are
each granted, in their current version, before an account exists (the design's mandatory
consents); each is recorded with the request's address, like any later consent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from uuid import UUID

from hub import metrics
from hub.context import RequestMeta
from hub.db import Connection
from hub.errors import DomainError, ErrorCode
from schema.models.accounts import SignupConsent

REQUIRED: Final = ("terms_of_service", "privacy_policy", "data_processing")


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
    await conn.executemany(
        """INSERT INTO consents (user_id, kind, version, granted, ip, user_agent)
           VALUES ($1, $2, $3, $4, $5::inet, $6)""",
        [
            (user_id, c.kind, c.version, c.granted, meta.ip, (meta.user_agent or "")[:300] or None)
            for c in {c.kind: c for c in consents}.values()
        ],
    )
