"""Every place personal data can live, and what erasure does to it.

One entry per table (and per text-like column of it), per Redis key family and per kind of
stored file. tests/test_privacy_registry.py reads information_schema of the migrated database
and fails when a migration adds a table or a text, varchar, jsonb, inet, array or tsvector
column that is not named here, so a new place for personal data cannot slip past erasure.
The erasure (hub/privacy/erase.py) has one step per table whose rule is not KEEP or NONE;
the registry test checks that too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Rule(StrEnum):
    DELETE = "delete"  # the person's rows go
    BLANK = "blank"  # the column is emptied (NULL, '' or {}) on the person's rows
    PSEUDONYMISE = "pseudonymise"  # rows stay for statistics, pointing at a pseudonym
    REDACT = "redact"  # other people's rows: the person's name/e-mail/texts replaced
    KEEP = "keep"  # kept for a legal or operational reason (given)
    NONE = "none"  # holds no personal data (codes, enums, authored teaching content)


@dataclass(frozen=True)
class Column:
    name: str
    rule: Rule
    why: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    rule: Rule
    why: str
    columns: tuple[Column, ...] = ()


def _c(name: str, rule: Rule, why: str = "") -> Column:
    return Column(name, rule, why)


N, D, B, P, R, K = Rule.NONE, Rule.DELETE, Rule.BLANK, Rule.PSEUDONYMISE, Rule.REDACT, Rule.KEEP

TABLES: Final[tuple[Table, ...]] = (
    Table("zones", N, "platform zones", (_c("slug", N), _c("name", N))),
    Table(
        "users",
        B,
        "the row stays (messages keep their sender id, seqs stay gap-free) with nothing in it",
        (
            _c("email", B, "becomes erased-<id>@invalid"),
            _c("password_hash", B),
            _c("display_name", B, "becomes the erased-user label"),
            _c("language", N),
            _c("timezone", N),
        ),
    ),
    Table("zone_admins", D, "the person's roles"),
    Table(
        "organizations",
        N,
        "a school, not a person",
        (_c("name", N), _c("kind", N), _c("settings", N)),
    ),
    Table("memberships", D, "the person's roles", (_c("role", N),)),
    Table("classes", N, "a school's classes", (_c("name", N),)),
    Table("class_members", D, "the person's class places", (_c("role", N),)),
    Table(
        "sessions",
        B,
        "revoked; kept (without IP and agent) so a revoked id stays revoked until expiry",
        (_c("revoked_reason", N), _c("user_agent", B), _c("ip", B)),
    ),
    Table("refresh_tokens", D, "credentials", (_c("token_hash", D),)),
    Table("parent_links", D, "the person's family links", (_c("status", N),)),
    Table(
        "consents",
        B,
        "kept: proof of what was consented to (GDPR art. 7(1)); IP and agent blanked",
        (_c("kind", K), _c("version", K), _c("source", K), _c("ip", B), _c("user_agent", B)),
    ),
    Table(
        "audit_log",
        R,
        "kept for the legal period (audit archive); the person's IP blanked, their e-mail "
        "and name redacted from every row's details",
        (
            _c("action", N),
            _c("target_type", N),
            _c("target_id", K, "opaque ids only"),
            _c("ip", B),
            _c("details", R),
        ),
    ),
    Table(
        "audit_archive",
        R,
        "audit rows past a year, kept until the legal period ends; redacted like audit_log",
        (
            _c("action", N),
            _c("target_type", N),
            _c("target_id", K, "opaque ids only"),
            _c("ip", B),
            _c("details", R),
        ),
    ),
    Table(
        "conversations",
        N,
        "a school's conversation; the person's tutor conversation is deleted",
        (
            _c("kind", N),
            _c("title", K, "a group's title, set by its admins for the school"),
            _c("direct_key", K, "two opaque ids"),
        ),
    ),
    Table(
        "participants", B, "left_at set; the row keeps read positions (no text)", (_c("role", N),)
    ),
    Table(
        "messages",
        B,
        "text and search tokens blanked, seq kept (others' history has no gap)",
        (
            _c("client_msg_id", N, "a client's random id"),
            _c("message_type", N),
            _c("content", B),
            _c("search_tokens", B),
        ),
    ),
    Table("conversation_events", N, "ids only", (_c("kind", N),)),
    # Monthly partitions of messages (messages_pYYYY_MM) are covered by "messages".
    Table(
        "message_keys",
        N,
        "ids only (sender, a client's random id, the message); pruned after a week",
        (_c("client_msg_id", N, "a client's random id"),),
    ),
    Table(
        "message_archives",
        N,
        "which months moved to the archive tablespace",
        (_c("partition", N), _c("tablespace", N)),
    ),
    Table("message_acks", D, "the person's acknowledgements"),
    Table(
        "message_reports",
        R,
        "the person's own reports are deleted; others' notes have the name redacted",
        (_c("reason", R), _c("resolution", N), _c("note", R)),
    ),
    Table("devices", D, "push tokens", (_c("token", D), _c("platform", D))),
    Table("notification_preferences", D, "the person's settings"),
    Table(
        "notifications",
        R,
        "the person's own are deleted; in others' rows the name and message excerpts go",
        (
            _c("dedup_key", N),
            _c("kind", N),
            _c("title", R),
            _c("body", R),
            _c("data", N, "ids only"),
            _c("collapse_key", N),
            _c("push_state", N),
        ),
    ),
    Table(
        "items",
        N,
        "teaching content authored for the school",
        (_c("stem", N), _c("choices", N), _c("content_area", N)),
    ),
    Table("item_parameters", N, "statistics", (_c("source", N), _c("status", N))),
    Table("exams", N, "a school's exam", (_c("title", N), _c("mode", N), _c("settings", N))),
    Table("exam_items", N, "ids only"),
    Table(
        "attempts",
        P,
        "scores stay for item calibration, pointing at a pseudonym",
        (_c("status", N), _c("finished_by", N)),
    ),
    Table("answers", P, "responses stay for item calibration, pointing at a pseudonym"),
    Table(
        "proctor_events",
        D,
        "the person's proctoring events go; a proctor's own actions lose the actor",
        (_c("kind", D), _c("severity", D), _c("details", D)),
    ),
    Table("tutor_conversations", D, "the student's tutor conversation and its messages"),
    Table(
        "tutor_requests",
        P,
        "model, tokens and timings stay for the school's usage figures, pointing at a "
        "pseudonym; the refused question's text goes",
        (
            _c("client_msg_id", N),
            _c("outcome", N),
            _c("reason", N, "a refusal category"),
            _c("refused_question", B),
            _c("tier", N),
            _c("model", N),
            _c("fallback_from", N),
        ),
    ),
    Table(
        "files",
        B,
        "the person's uploads: bytes deleted, name and transcript blanked",
        (
            _c("name", B),
            _c("mime", N),
            _c("kind", N),
            _c("sha256", N),
            _c("storage_key", N, "org id and content hash"),
            _c("thumbnail_key", N),
            _c("state", N),
            _c("reason", N, "a scanner's verdict"),
            _c("transcript", B),
        ),
    ),
    Table("message_files", N, "ids only"),
    Table("file_uploads", D, "unfinished uploads and their bytes", (_c("name", D),)),
    Table("member_mutes", D, "the person's mutes"),
    Table("invitations", N, "a school's codes", (_c("code", N), _c("role", N))),
    Table("invitation_redemptions", D, "who joined with which code"),
    Table("schema_migrations", N, "migrations", (_c("name", N), _c("checksum", N))),
    Table(
        "erasures",
        K,
        "the proof of each erasure: an HMAC of the identifiers, counts, who asked; the "
        "opaque id is the list re-applied after a backup is restored",
        (
            _c("subject_hash", K),
            _c("requested_role", N),
            _c("zone_ids", N),
            _c("org_ids", N),
            _c("status", N),
            _c("counts", N),
        ),
    ),
    Table(
        "data_exports",
        D,
        "the person's export requests and archives",
        (_c("status", N), _c("storage_key", D), _c("token_hash", D)),
    ),
)


@dataclass(frozen=True)
class RedisFamily:
    pattern: str  # relative to the namespace; {user} is the person's id
    rule: Rule
    why: str


REDIS: Final[tuple[RedisFamily, ...]] = (
    RedisFamily("presence:{user}", D, "online state"),
    RedisFamily("last-seen:{user}", D, "last seen time"),
    RedisFamily("file-quota:{user}:*", D, "bytes uploaded per day"),
    RedisFamily("tutor-in-flight:{user}", D, "answers in progress"),
    RedisFamily("tutor-stream:{answer}", D, "the text of the person's tutor answers"),
    RedisFamily("tutor-cancel:{answer}", D, "cancel marks of the person's answers"),
    RedisFamily("tutor-lease:{answer}", D, "leases of the person's answers"),
    RedisFamily("host-users:*", D, "the person's id among a hub's users (removed)"),
    RedisFamily("proctor-roster:{exam}", D, "the person's attempts' live fields (removed)"),
    RedisFamily("proctor-sockets:{attempt}", D, "the person's exam clients' sockets"),
    RedisFamily("revoked-session:*", K, "session ids only; expire with the access token"),
    RedisFamily("rl:*", K, "rate buckets; expire within a minute"),
    RedisFamily("exam-exposure:*", N, "item counts only"),
    RedisFamily("push-burst:*", N, "conversation ids only"),
    RedisFamily("host-alive:*", N, "hub hosts"),
    RedisFamily("sweep-lock:*", N, "hub hosts"),
    RedisFamily("dead-letters", R, "failed jobs' arguments are ids; kept for operators"),
)

FILES: Final[tuple[tuple[str, Rule, str], ...]] = (
    (
        "files.storage_key (and .thumb.webp)",
        D,
        "the person's uploads, unless another live "
        "record of the same content still needs the bytes",
    ),
    ("DATA_DIR/uploads/tus/<upload>.part", D, "the person's unfinished uploads"),
    ("data_exports.storage_key", D, "the person's export archives"),
)


def table(name: str) -> Table:
    for entry in TABLES:
        if entry.name == name:
            return entry
    raise KeyError(f"Table {name!r} is not in the personal-data registry")
