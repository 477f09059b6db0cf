"""Every Redis key the hub writes, in one place. All live under the configured namespace."""

from __future__ import annotations


class RedisKeys:
    def __init__(self, namespace: str) -> None:
        self.ns = namespace

    def rate_limit(self, bucket: str) -> str:
        return f"{self.ns}:rl:{bucket}"

    def revoked_session(self, session_id: str) -> str:
        return f"{self.ns}:revoked-session:{session_id}"

    def presence(self, user_id: str) -> str:
        return f"{self.ns}:presence:{user_id}"

    def last_seen(self, user_id: str) -> str:
        return f"{self.ns}:last-seen:{user_id}"

    def host_alive(self, host_id: str) -> str:
        return f"{self.ns}:host-alive:{host_id}"

    def host_users(self, host_id: str) -> str:
        return f"{self.ns}:host-users:{host_id}"

    def sweep_lock(self, host_id: str) -> str:
        return f"{self.ns}:sweep-lock:{host_id}"

    def exam_exposure(self, exam_id: object) -> str:
        """CAT exposure counts of one exam's pool: item id -> times shown, plus 'attempts'."""
        return f"{self.ns}:exam-exposure:{exam_id}"

    def proctor_roster(self, exam_id: object) -> str:
        """Live state of each attempt of an exam: attempt id -> JSON (heartbeat, question),
        and '{attempt id}:connects' -> how many times its exam client connected."""
        return f"{self.ns}:proctor-roster:{exam_id}"

    def proctor_sockets(self, attempt_id: object) -> str:
        """Live sockets of one attempt's exam client(s): sid -> expiry (ms)."""
        return f"{self.ns}:proctor-sockets:{attempt_id}"

    def push_burst(self, conversation_id: object) -> str:
        """Set by a conversation's first message of a burst; lives for the burst window."""
        return f"{self.ns}:push-burst:{conversation_id}"

    def file_quota(self, user_id: object, day: str) -> str:
        """Bytes a user uploaded on one UTC day (YYYY-MM-DD); expires after two days."""
        return f"{self.ns}:file-quota:{user_id}:{day}"

    @property
    def dead_letters(self) -> str:
        return f"{self.ns}:dead-letters"

    @property
    def hosts(self) -> str:
        return f"{self.ns}:hosts"

    @property
    def socketio_channel(self) -> str:
        return f"{self.ns}:socketio"

    @property
    def job_queue(self) -> str:
        return f"{self.ns}:arq:queue"

    def pattern(self) -> str:
        return f"{self.ns}:*"

    def tutor_stream(self, answer_id: object) -> str:
        """One tutor answer as it streams: entries {k: kind, a: attempt, o: offset, t: text}."""
        return f"{self.ns}:tutor-stream:{answer_id}"

    def tutor_cancel(self, answer_id: object) -> str:
        """Set when anyone cancels an answer (a queued job checks it before it starts)."""
        return f"{self.ns}:tutor-cancel:{answer_id}"

    def tutor_lease(self, answer_id: object) -> str:
        """Held (with a TTL) by the worker generating an answer; gone: the worker died."""
        return f"{self.ns}:tutor-lease:{answer_id}"

    def tutor_in_flight(self, user_id: object) -> str:
        """A user's answers in progress: answer id -> expiry (ms)."""
        return f"{self.ns}:tutor-in-flight:{user_id}"

    @property
    def tutor_cancel_channel(self) -> str:
        return f"{self.ns}:tutor-cancels"

    @property
    def tutor_job_queue(self) -> str:
        return f"{self.ns}:arq:tutor"

    def refresh_grace(self, token_hash: str) -> str:
        """The pair a refresh token was just rotated into, for a concurrent second caller."""
        return f"{self.ns}:refresh-grace:{token_hash}"

    def login_failures(self, email_hash: str) -> str:
        """An account's recent failed logins: {count, until (ms)} for its backoff."""
        return f"{self.ns}:login-failures:{email_hash}"
