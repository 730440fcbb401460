"""The database under the store: the engine with its schema, upserts, and the store's common ground.

SQLite (a file) or PostgreSQL (`postgresql+psycopg://…`) with the same code. The schema is
`metadata.create_all` plus `_add_missing_columns`: additive changes only (a real migration tool is
issue 6's).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from hall.store.tables import metadata

_SCHEMA_LOCK = 0x4841_4C4C  # "HALL": the advisory lock key for schema changes on PostgreSQL


class ConflictError(Exception):
    """The key (receipt number, rating session, appointment code) is taken by different content."""


class StorePart:
    """What each part of hall.store.Store works on: one engine, every call with its own connection."""

    engine: Engine


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def make_engine(db_url: str) -> Engine:
    """An engine with the schema created: SQLite (a file) or PostgreSQL (`postgresql+psycopg://…`).

    SQLite gets WAL and a busy timeout for concurrent requests; PostgreSQL a pool checked before use
    (a restarted database server costs one failed ping, not a failed request).
    """
    url = sa.make_url(db_url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        # A hall worker serves up to anyio's 40 threads at once; more waiting beyond the pool is fine.
        engine = sa.create_engine(db_url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_recycle=1800)
    elif backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(db_url)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # an acknowledged application survives power loss
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")

    with engine.begin() as conn:
        if backend == "postgresql":
            # Hall workers starting together would race to create the same tables: one at a time.
            # The lock ends with this transaction, and PostgreSQL's DDL is transactional.
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
        metadata.create_all(conn)
        _add_missing_columns(conn)
    return engine


def _add_missing_columns(conn: Connection) -> None:
    """create_all makes missing tables, not missing columns: add nullable ones a newer version
    brought, so an existing hall database keeps working (a real migration tool is issue 6's)."""
    inspector = sa.inspect(conn)
    quote = conn.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(conn.dialect)
                conn.execute(
                    sa.text(f"ALTER TABLE {quote.format_table(table)} ADD COLUMN {quote.quote(column.name)} {kind}")
                )


def insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT for `table` that knows ON CONFLICT (… DO NOTHING / DO UPDATE): SQLite's or PostgreSQL's.

    A conflict that is expected (a retry, a race between two workers) then is no error: PostgreSQL
    would abort the whole transaction on one, and log it. Whether a row went in: add RETURNING and
    look for a row (the psycopg dialect reports no rowcount for an INSERT).
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite  # make_engine allows no other
    return dialect.insert(table)


def upsert(engine: Engine, table: sa.Table, rows: Sequence[Mapping[str, Any]], replace: Sequence[str]) -> None:
    """Insert rows, or replace the columns `replace` of a row that has the same primary key; one transaction.

    Hall workers may write the same row at the same moment (every one writes the configuration's
    terminals and staff at start): an upsert takes either, where a look-then-write would fail one.
    """
    if not rows:
        return
    with engine.begin() as conn:
        statement = insert(conn, table)
        statement = statement.on_conflict_do_update(
            index_elements=list(table.primary_key.columns), set_={k: statement.excluded[k] for k in replace}
        )
        conn.execute(statement, list(rows))
