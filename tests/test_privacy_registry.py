"""The personal-data registry covers every table and text-like column of the migrated schema."""

from __future__ import annotations

import inspect

import asyncpg

from hub.privacy import erase, registry, scrub

# Column types that can hold free text or an address: a new one must be named in the registry.
# USER-DEFINED covers enums and extension types such as citext.
TEXT_TYPES = (
    "text",
    "character varying",
    "character",
    "jsonb",
    "json",
    "inet",
    "cidr",
    "ARRAY",
    "tsvector",
    "bytea",
    "USER-DEFINED",
)


async def _schema(database_url: str) -> tuple[set[str], set[tuple[str, str]]]:
    conn = await asyncpg.connect(database_url)
    try:
        # A partition (a month of messages) is covered by its parent's entry; a table that
        # is not attached as one (a month moving to the archive) is not skipped.
        tables = {
            r["table_name"]
            for r in await conn.fetch(
                """SELECT table_name FROM information_schema.tables t
                   JOIN pg_class k ON k.oid = to_regclass(quote_ident(t.table_name))
                   WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
                     AND NOT k.relispartition"""
            )
        }
        columns = {
            (r["table_name"], r["column_name"])
            for r in await conn.fetch(
                """SELECT c.table_name, c.column_name FROM information_schema.columns c
                   JOIN information_schema.tables t USING (table_schema, table_name)
                   JOIN pg_class k ON k.oid = to_regclass(quote_ident(t.table_name))
                   WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                     AND NOT k.relispartition AND c.data_type = ANY($1::text[])""",
                list(TEXT_TYPES),
            )
        }
    finally:
        await conn.close()
    return tables, columns


async def test_every_table_and_text_column_is_in_the_registry(database_url: str) -> None:
    """A migration adding a table or a text/varchar/jsonb/inet column must extend the registry."""
    tables, columns = await _schema(database_url)
    named = {t.name for t in registry.TABLES}
    named_columns = {(t.name, c.name) for t in registry.TABLES for c in t.columns}
    assert tables - named == set(), "tables missing from hub/privacy/registry.py"
    assert columns - named_columns == set(), "columns missing from hub/privacy/registry.py"
    # And nothing stale: every registry entry names something that exists.
    assert named - tables == set()
    assert named_columns - columns == set()


def test_every_erasing_rule_has_an_erasure_step() -> None:
    """Tables whose rule removes or changes data are handled by a step of the erasure."""
    sources = "".join(inspect.getsource(step) for _, step in erase.STEPS)
    sources += inspect.getsource(scrub) + " ".join(erase.DELETED_BY_USER)
    acting = [
        t.name for t in registry.TABLES if t.rule not in (registry.Rule.NONE, registry.Rule.KEEP)
    ]
    missing = [t for t in acting if t not in sources]
    assert missing == []


def test_registry_rules_are_explained() -> None:
    """Every kept or pseudonymised table says why (the reason is part of the record)."""
    assert all(t.why for t in registry.TABLES)
    assert registry.table("messages").rule is registry.Rule.BLANK
