"""Register, log in, rotate refresh tokens, log out, and clean up expired sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from hub import metrics
from hub.accounts import audit, throttle
from hub.context import Actor, HubContext, RequestMeta
from hub.db import Connection
from hub.errors import DomainError, ErrorCode
from hub.notify import devices, enqueue, templates
from hub.passwords import hash_password, verify_password
from hub.privacy import consent
from hub.tokens import hash_refresh_token, new_refresh_token
from schema.models.accounts import LoginRequest, RegisterRequest, TokenPair


@dataclass(frozen=True)
class Registration:
    """What registering did; the caller's answer is the same either way."""

    created: UUID | None  # the new account, or None: the e-mail had one (its owner is told)


async def register(ctx: HubContext, body: RegisterRequest, meta: RequestMeta) -> Registration:
    """Create an account with no memberships; organizations add people with a role.

    An e-mail that already has an account gets the same answer as a new one, so registering
    does not tell strangers who has an account here: the owner is told by e-mail instead.
    The password is hashed either way, so both take the same argon2 time."""
    consent.check_signup(body.consents, ctx.settings.consent_version)
    password_hash = await hash_password(body.password)
    try:
        async with ctx.db.system() as conn:
            user_id: UUID = await conn.fetchval(
                """INSERT INTO users (email, password_hash, display_name, language, timezone)
                   VALUES ($1, $2, $3, $4, $5) RETURNING id""",
                body.email.lower(),
                password_hash,
                body.display_name,
                body.language,
                body.timezone,
            )
            await consent.record_signup(conn, user_id, body.consents, meta)
            await audit.record(
                conn,
                "user.register",
                actor_id=user_id,
                target_type="user",
                target_id=user_id,
                meta=meta,
            )
    except asyncpg.UniqueViolationError:
        await _tell_owner(ctx, body.email.lower())
        return Registration(None)
    return Registration(user_id)


async def _tell_owner(ctx: HubContext, email: str) -> None:
    """Tell an account's owner that someone tried to register its e-mail (at most once an
    hour, so the notice cannot be used to flood them)."""
    async with ctx.db.system() as conn:
        owner = await conn.fetchrow(
            "SELECT id, language FROM users WHERE email = $1 AND deleted_at IS NULL", email
        )
    if owner is None:
        return
    base = ctx.settings.public_url.rstrip("/")
    notice = templates.signup_attempt(
        owner["language"], link=f"{base}/", settings_url=f"{base}/app/settings/notifications"
    )
    title, text = templates.push_text(notice)
    hour = ctx.clock().strftime("%Y%m%d%H")
    await enqueue.tell_users(
        ctx,
        [owner["id"]],
        kind="account_notice",
        title=title,
        body=text,
        data={"reason": "signup_attempt"},
        dedup_key=f"signup:{owner['id']}:{hour}",
    )


async def login(ctx: HubContext, body: LoginRequest, meta: RequestMeta) -> TokenPair:
    """Check the password and open a new session. Never says which part was wrong.

    Throttled by failures per account and address (hub/accounts/throttle.py)."""
    await throttle.check(ctx, body.email, meta.ip)
    failure: DomainError | None
    async with ctx.db.system() as conn:
        row = await conn.fetchrow(
            "SELECT id, password_hash FROM users WHERE email = $1 AND deleted_at IS NULL",
            body.email.lower(),
        )
        ok = await verify_password(row["password_hash"] if row else None, body.password)
        if row is None or not ok:
            metrics.LOGINS.labels("failure").inc()
            await audit.record(
                conn,
                "auth.login_failed",
                actor_id=row["id"] if row else None,
                meta=meta,
                details={"email": body.email.lower()},
            )
            failure = DomainError(ErrorCode.INVALID_CREDENTIALS, "The e-mail or password is wrong")
        else:
            failure = await _consent_gate(ctx, conn, row["id"], body, meta)
            if failure is None:
                pair = await _open_session(ctx, conn, row["id"], meta)
                await audit.record(
                    conn,
                    "auth.login",
                    actor_id=row["id"],
                    target_type="user",
                    target_id=row["id"],
                    meta=meta,
                )
    # Raised after the transaction commits, so the failed attempt stays in the audit log.
    if failure is not None and failure.code is ErrorCode.CONSENT_REQUIRED:
        raise failure  # the password was right: not a guess to throttle
    if failure is not None:
        await throttle.failed(ctx, body.email, meta.ip)
        raise failure
    await throttle.succeeded(ctx, body.email, meta.ip)
    metrics.LOGINS.labels("success").inc()
    return pair


async def _consent_gate(
    ctx: HubContext, conn: Connection, user_id: UUID, body: LoginRequest, meta: RequestMeta
) -> DomainError | None:
    """Record consents sent with the sign-in (the current version only), then refuse the
    sign-in while a required one is withdrawn or not yet given (hub/privacy/consent.py)."""
    version = ctx.settings.consent_version
    given = [c for c in body.consents or () if c.version == version]
    if given:
        await consent.record_signup(conn, user_id, given, meta)
    missing = await consent.missing_at_sign_in(conn, user_id)
    if not missing:
        return None
    await audit.record(
        conn,
        "auth.login_consent_required",
        actor_id=user_id,
        target_type="user",
        target_id=user_id,
        meta=meta,
        details={"missing": missing},
    )
    return consent.consent_required(missing, version)


async def _open_session(
    ctx: HubContext, conn: Connection, user_id: UUID, meta: RequestMeta
) -> TokenPair:
    now = ctx.clock()
    session_id: UUID = await conn.fetchval(
        """INSERT INTO sessions (user_id, created_at, last_used_at, expires_at, user_agent, ip)
           VALUES ($1, $2, $2, $3, $4, $5::inet) RETURNING id""",
        user_id,
        now,
        now + timedelta(seconds=ctx.settings.refresh_token_ttl_s),
        (meta.user_agent or "")[:300] or None,
        meta.ip,
    )
    return await _issue_pair(ctx, conn, user_id, session_id, now)


async def _issue_pair(
    ctx: HubContext, conn: Connection, user_id: UUID, session_id: UUID, now: datetime
) -> TokenPair:
    refresh, refresh_hash = new_refresh_token()
    await conn.execute(
        """INSERT INTO refresh_tokens (token_hash, session_id, user_id, issued_at, expires_at)
           VALUES ($1, $2, $3, $4, $5)""",
        refresh_hash,
        session_id,
        user_id,
        now,
        now + timedelta(seconds=ctx.settings.refresh_token_ttl_s),
    )
    return TokenPair(
        access_token=ctx.tokens.issue_access(user_id, session_id, now),
        refresh_token=refresh,
        expires_in=int(ctx.tokens.access_ttl.total_seconds()),
    )


async def refresh(ctx: HubContext, token: str, meta: RequestMeta) -> TokenPair:
    """Trade a refresh token for a new pair. A token used twice revokes its whole family,
    except within `refresh_reuse_interval_s` of its rotation: two tabs refreshing at once both
    get the one new pair (the grace the large identity providers give)."""
    now = ctx.clock()
    reused: tuple[UUID, UUID] | None = None
    token_hash = hash_refresh_token(token)
    grace_key = ctx.keys.refresh_grace(token_hash.hex())
    async with ctx.db.system() as conn:
        row = await conn.fetchrow(
            """SELECT t.session_id, t.user_id, t.expires_at, t.used_at,
                      s.revoked_at, s.expires_at AS session_expires_at
               FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
               WHERE t.token_hash = $1
               FOR UPDATE OF t, s""",
            hash_refresh_token(token),
        )
        if row is None:
            raise DomainError(ErrorCode.TOKEN_INVALID, "The refresh token is not valid")
        if row["revoked_at"] is not None:
            raise DomainError(ErrorCode.SESSION_REVOKED, "This session has been signed out")
        if row["used_at"] is not None and _within_grace(ctx, row["used_at"], now):
            cached = await ctx.redis.get(grace_key)
            if cached is None:
                raise DomainError(
                    ErrorCode.CONFLICT, "This refresh token was just rotated; use the new pair"
                )
            return TokenPair.model_validate_json(cached)
        if row["used_at"] is not None:
            await _revoke_session(conn, row["session_id"], "refresh_token_reused", now)
            await audit.record(
                conn,
                "auth.refresh_token_reused",
                actor_id=row["user_id"],
                target_type="session",
                target_id=row["session_id"],
                meta=meta,
            )
            reused = (row["user_id"], row["session_id"])
        elif row["expires_at"] <= now or row["session_expires_at"] <= now:
            raise DomainError(ErrorCode.TOKEN_EXPIRED, "The refresh token has expired")
        else:
            await conn.execute(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
                hash_refresh_token(token),
                now,
            )
            await conn.execute(
                "UPDATE sessions SET last_used_at = $2 WHERE id = $1", row["session_id"], now
            )
            pair = await _issue_pair(ctx, conn, row["user_id"], row["session_id"], now)
            # Written before the row lock is released, so a concurrent second caller finds it.
            # Stored under the old token's hash, for the grace interval only.
            grace_ms = int(ctx.settings.refresh_reuse_interval_s * 1000)
            if grace_ms > 0:
                await ctx.redis.set(grace_key, pair.model_dump_json(), px=grace_ms)
    if reused is not None:
        await mark_session_revoked(ctx, *reused, "refresh_token_reused")
        raise DomainError(
            ErrorCode.TOKEN_REUSED,
            "This refresh token was already used; the session has been signed out everywhere",
        )
    return pair


def _within_grace(ctx: HubContext, used_at: datetime, now: datetime) -> bool:
    return (now - used_at).total_seconds() <= ctx.settings.refresh_reuse_interval_s


async def logout(ctx: HubContext, actor: Actor, meta: RequestMeta) -> None:
    """Revoke the caller's session: its refresh tokens and its live access tokens."""
    async with ctx.db.acting(actor.user_id) as conn:
        await _revoke_session(conn, actor.session_id, "logout", ctx.clock())
        await audit.record(
            conn,
            "auth.logout",
            actor_id=actor.user_id,
            target_type="session",
            target_id=actor.session_id,
            meta=meta,
        )
    await mark_session_revoked(ctx, actor.user_id, actor.session_id, "logout")
    await devices.remove_session_devices(ctx, actor)


async def _revoke_session(conn: Connection, session_id: UUID, reason: str, now: datetime) -> None:
    await conn.execute(
        """UPDATE sessions SET revoked_at = $2, revoked_reason = $3
           WHERE id = $1 AND revoked_at IS NULL""",
        session_id,
        now,
        reason,
    )


async def mark_session_revoked(
    ctx: HubContext, user_id: UUID, session_id: UUID, reason: str
) -> None:
    """Refuse the session's access tokens from now on and close its sockets everywhere.

    Access tokens are stateless: the revoked session is remembered for as long as one of its
    tokens could still be valid.
    """
    ttl = int(ctx.tokens.access_ttl.total_seconds()) + 60
    await ctx.redis.set(ctx.keys.revoked_session(str(session_id)), b"1", ex=ttl)
    await ctx.bus.disconnect_user(user_id, reason, session_id)


async def is_session_revoked(ctx: HubContext, session_id: UUID) -> bool:
    return bool(await ctx.redis.exists(ctx.keys.revoked_session(str(session_id))))


# The session row and its user, as the acting user: the check behind require_live_session.
# hub/sockets/namespace.py reads the same columns in its connect query (one round trip).
LIVE_SESSION_SQL = """SELECT s.revoked_at, u.deleted_at FROM sessions s
    JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND s.user_id = $2"""


def session_refusal(row: asyncpg.Record | None) -> DomainError | None:
    """Why a token's session row (revoked_at, deleted_at; None: no such row) is refused."""
    if row is None:
        return DomainError(ErrorCode.TOKEN_INVALID, "The access token's session does not exist")
    if row["revoked_at"] is not None or row["deleted_at"] is not None:
        return DomainError(ErrorCode.SESSION_REVOKED, "This session has been signed out")
    return None


async def require_live_session(ctx: HubContext, user_id: UUID, session_id: UUID) -> None:
    """Refuse an access token whose session was revoked, whose account was deleted, or whose
    session never existed for this user: a valid signature alone is not enough (a leaked
    secret, a restored database, an account deleted without its sessions revoked)."""
    if await is_session_revoked(ctx, session_id):
        raise DomainError(ErrorCode.SESSION_REVOKED, "This session has been signed out")
    async with ctx.db.acting_lean(user_id) as conn:
        session = await conn.fetchrow(LIVE_SESSION_SQL, session_id, user_id)
    refusal = session_refusal(session)
    if refusal is not None:
        raise refusal


async def purge_expired(ctx: HubContext, *, grace: timedelta = timedelta(days=1)) -> int:
    """Delete refresh tokens and sessions that can no longer be used. Returns rows removed."""
    cutoff = ctx.clock() - grace
    async with ctx.db.system() as conn:
        tokens = await conn.execute("DELETE FROM refresh_tokens WHERE expires_at < $1", cutoff)
        sessions = await conn.execute(
            "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1", cutoff
        )
    return int(tokens.split()[-1]) + int(sessions.split()[-1])
