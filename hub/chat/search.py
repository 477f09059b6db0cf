"""Message search that really indexes Korean, whatever the database's locale.

PostgreSQL's parsers and pg_trgm classify characters by the database's LC_CTYPE: under C they
drop Hangul, and a two-syllable word has no trigram at all. So we tokenise here instead:
Hangul runs become overlapping syllable bigrams (so "학교" matches inside "고등학교에서"),
other words become lower-cased words; the lexemes go into a tsvector with `array_to_tsvector`
(no parser involved), and a GIN index answers `@@` queries built from the same tokens.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any
from uuid import UUID

from hub.chat import partitions
from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode

_HANGUL = r"\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"
# Hangul runs and other words are split apart even where glued together ("SAT시험").
_TOKEN = re.compile(rf"[{_HANGUL}]+|[^\W_{_HANGUL}]+", re.UNICODE)
_IS_HANGUL = re.compile(rf"[{_HANGUL}]")
MAX_TOKENS = 2000
# MESSAGE_COLUMNS, qualified for a join with conversations.
MESSAGE_COLUMNS_M = """m.id, m.conversation_id, m.seq, m.change_seq, m.sender_id, m.client_msg_id,
    m.message_type::text AS message_type, m.content, m.reply_to, m.ack_required, m.created_at,
    m.edited_at, m.deleted_at"""


def tokens(text: str) -> list[str]:
    """The lexemes we index for `text` (deduplicated, order kept)."""
    out: dict[str, None] = {}
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).lower()):
        word = match.group()
        if _IS_HANGUL.match(word):
            if len(word) == 1:
                out[word] = None
            for i in range(len(word) - 1):
                out[word[i : i + 2]] = None
        else:
            out[word[:100]] = None
        if len(out) >= MAX_TOKENS:
            break
    return list(out)


def query(text: str) -> str | None:
    """A tsquery for `text`: every token must be present; the last Latin word may be a prefix."""
    words = [m.group() for m in _TOKEN.finditer(unicodedata.normalize("NFKC", text).lower())]
    if not words:
        return None
    parts: list[str] = []
    for index, word in enumerate(words):
        if _IS_HANGUL.match(word):
            grams = [word] if len(word) == 1 else [word[i : i + 2] for i in range(len(word) - 1)]
            # A single syllable matches words that start with it, alone or in a bigram.
            parts += [_lexeme(g) + (":*" if len(word) == 1 else "") for g in grams]
        else:
            prefix = ":*" if index == len(words) - 1 else ""
            parts.append(_lexeme(word[:100]) + prefix)
    return " & ".join(parts)


def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


async def search_messages(
    ctx: HubContext,
    actor: Actor,
    text: str,
    *,
    conversation_id: UUID | None,
    limit: int,
    before: datetime | None,
) -> list[dict[str, Any]]:
    """Messages matching `text` in the caller's conversations, newest first."""
    tsquery = query(text)
    if tsquery is None:
        raise DomainError(ErrorCode.VALIDATION, "q has no words to search for", field="q")
    async with ctx.db.acting(actor.user_id) as conn:
        await partitions.reading_archive(conn)  # archived months are searched too
        rows = await conn.fetch(
            # app_search_messages (0009_partitions.sql): the membership rule written out, so
            # the (conversation, tokens) index can be used (under RLS it cannot).
            f"""SELECT {MESSAGE_COLUMNS_M}, c.title AS conversation_title
                FROM app_search_messages($1::tsquery, $2::uuid, $3::timestamptz, $4::int) m
                JOIN conversations c ON c.id = m.conversation_id
                ORDER BY m.created_at DESC""",  # noqa: S608
            tsquery,
            conversation_id,
            before,
            limit,
        )
    return [
        {
            "message": {k: v for k, v in r.items() if k != "conversation_title"},
            "conversation_title": r["conversation_title"],
        }
        for r in rows
    ]
