"""Access tokens (short-lived JWT) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt

from hub import jwt_patches
from hub.errors import DomainError, ErrorCode

ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    expires_at: datetime


class TokenIssuer:
    def __init__(self, secret: str, access_ttl_s: int) -> None:
        jwt_patches.install()  # every handshake and request decodes a token
        self._secret = secret
        self.access_ttl = timedelta(seconds=access_ttl_s)

    def issue_access(self, user_id: UUID, session_id: UUID, now: datetime) -> str:
        payload = {
            "sub": str(user_id),
            "sid": str(session_id),
            "typ": "access",
            "iat": int(now.timestamp()),
            "exp": int((now + self.access_ttl).timestamp()),
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def verify_access(self, token: str) -> AccessClaims:
        """Decode a token, accepting only our algorithm, type and required claims."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "sid", "exp", "iat", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise DomainError(ErrorCode.TOKEN_EXPIRED, "The access token has expired") from None
        except jwt.PyJWTError:
            raise DomainError(ErrorCode.TOKEN_INVALID, "The access token is not valid") from None
        if claims.get("typ") != "access":
            raise DomainError(ErrorCode.TOKEN_INVALID, "The token is not an access token")
        try:
            user_id, session_id = UUID(claims["sub"]), UUID(claims["sid"])
        except (ValueError, TypeError):
            raise DomainError(ErrorCode.TOKEN_INVALID, "The access token is not valid") from None

        return AccessClaims(user_id, session_id, datetime.fromtimestamp(claims["exp"], UTC))


def new_refresh_token() -> tuple[str, bytes]:
    """A random token for the client and the hash we keep (a leaked table grants nothing)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
