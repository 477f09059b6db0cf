"""The one error type the domain raises; each transport translates it in one place."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION = "validation_error"
    MALFORMED_JSON = "malformed_json"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNAUTHENTICATED = "unauthenticated"
    INVALID_CREDENTIALS = "invalid_credentials"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_INVALID = "token_invalid"
    TOKEN_REUSED = "token_reused"
    SESSION_REVOKED = "session_revoked"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    EMAIL_TAKEN = "email_taken"
    NOT_A_STUDENT = "not_a_student"
    LINK_EXPIRED = "link_expired"
    RATE_LIMITED = "rate_limited"
    ATTEMPT_FINISHED = "attempt_finished"
    DEADLINE_PASSED = "deadline_passed"
    ALREADY_ANSWERED = "already_answered"
    OUT_OF_ORDER = "out_of_order"
    NO_ATTEMPTS_LEFT = "no_attempts_left"
    EXAM_CLOSED = "exam_closed"
    EXAM_IN_PROGRESS = "exam_in_progress"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal_error"
    MUTED = "muted"
    INVITATION_INVALID = "invitation_invalid"
    FILE_REFUSED = "file_refused"
    FILE_INFECTED = "file_infected"
    FILE_NOT_READY = "file_not_ready"
    FILE_GONE = "file_gone"
    QUOTA_EXCEEDED = "quota_exceeded"
    UPLOAD_INCOMPLETE = "upload_incomplete"
    TUTOR_NOT_CONFIGURED = "tutor_not_configured"
    TUTOR_DISABLED = "tutor_disabled"
    TUTOR_REFUSED = "tutor_refused"
    TOO_MANY_IN_FLIGHT = "too_many_in_flight"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    LAST_ADMIN = "last_admin"
    # issue 13, fuzzing: refusals that had no body (a tus PATCH of the wrong type, a bad Range)
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"

    # Load shedding (issue 13 §2): past the in-flight cap; retryable, with retry_after.
    OVERLOADED = "overloaded"
    # A required consent is withdrawn or not yet given by the person (hub/privacy/consent.py).
    CONSENT_REQUIRED = "consent_required"


class DomainError(Exception):
    """An expected failure with a machine code and a message a person can read."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, **self.details}


def not_found(what: str) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"{what} was not found")


def forbidden(message: str = "You may not do this") -> DomainError:
    return DomainError(ErrorCode.FORBIDDEN, message)
