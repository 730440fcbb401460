"""The hall's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

What reads and writes them is beside them in hall.store, by concern; make_engine (hall.store.engine)
creates them.
"""

from __future__ import annotations

import sqlalchemy as sa


def _text(length: int) -> sa.types.TypeEngine[str]:
    """VARCHAR(length), compared and sorted byte-wise on PostgreSQL too (COLLATE "C").

    SQLite compares text byte-wise (BINARY); PostgreSQL by the database's locale, which orders
    "A-1" and "A1", "id_card" and "idcard" differently. Keys and sort orders must not depend on how
    the server was installed. SQLite knows no collation "C": the variant keeps its schema as it was.
    """
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


metadata = sa.MetaData()

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("receipt_no", _text(40), primary_key=True),
    sa.Column("terminal_id", _text(64), nullable=False),
    sa.Column("session_id", _text(128), nullable=False),
    sa.Column("item_id", _text(128), nullable=False),
    sa.Column("item_name", sa.Text, nullable=False),
    sa.Column("submitted_at", _text(40), nullable=False),  # as the terminal sent it
    sa.Column("received_at", _text(40), nullable=False),  # ISO-8601 UTC, sorts as text
    sa.Column("state", _text(32), nullable=False),
    # Upper-cased last 6 characters of the ID number: the progress query checks only this, so it
    # keeps working once the applicant record is encrypted at rest.
    sa.Column("id_tail", _text(6), nullable=False),
    sa.Column("applicant", sa.JSON, nullable=False),
    sa.Column("form", sa.JSON, nullable=False),
    sa.Column("materials", sa.JSON, nullable=False),
    sa.Column("appointment", _text(32), nullable=True),  # the appointment code it was made under
    # SHA-256 over the application and its page hashes: tells a retry from a different submission.
    sa.Column("fingerprint", _text(64), nullable=False),
    # The documents it is made of ([Document as dict]), written when opened; the documents table
    # gets them at commit. Null in rows older than the stepwise protocol.
    sa.Column("manifest", sa.JSON, nullable=True),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column(
        "receipt_no",
        _text(40),
        sa.ForeignKey("applications.receipt_no", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("material_id", _text(128), primary_key=True),
    sa.Column("page", sa.Integer, primary_key=True),
    sa.Column("sha256", _text(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content_type", _text(100), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "receipt_no",
        _text(40),
        sa.ForeignKey("applications.receipt_no", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("state", _text(32), nullable=False),
    sa.Column("at", _text(40), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),  # shown to the citizen: no personal data
    sa.Column("staff", _text(64), nullable=True),  # the staff account that made the change (None: the terminal's)
)

ratings = sa.Table(
    "ratings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receipt_no", _text(40), nullable=True, index=True),  # no FK: may arrive first
    sa.Column("item_id", _text(128), nullable=False),
    sa.Column("terminal_id", _text(64), nullable=False),
    sa.Column("session_id", _text(128), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("received_at", _text(40), nullable=False),
    # One rating per citizen session: a retried POST must not count twice.
    sa.UniqueConstraint("terminal_id", "session_id", name="uq_ratings_session"),
)


appointments = sa.Table(
    "appointments",
    metadata,
    # Made by the hall's booking or pre-review (预审) system; the terminal looks them up by the code
    # the citizen shows. No personal data: anyone holding the code may see what it is for.
    sa.Column("code", _text(32), primary_key=True),
    sa.Column("kind", _text(16), nullable=False),  # "appointment" | "prereview"
    sa.Column("item_id", _text(128), nullable=False),
    sa.Column("slot", _text(40), nullable=False, default=""),  # booked time, ISO-8601; "" for pre-review
    sa.Column("created_at", _text(40), nullable=False),
)


terminals = sa.Table(
    "terminals",
    metadata,
    # The secret each terminal signs its requests with (hall.signing). Written at start from the
    # hall's configuration, so a restart keeps the keys and every hall worker reads the same ones.
    sa.Column("terminal_id", _text(64), primary_key=True),
    sa.Column("key_hex", _text(128), nullable=False),
    sa.Column("created_at", _text(40), nullable=False),
)

nonces = sa.Table(
    "nonces",
    metadata,
    # Nonces of accepted signed requests. The primary key refuses a replay even when it reaches
    # another hall worker; rows older than the replay window are pruned.
    sa.Column("terminal_id", _text(64), primary_key=True),
    sa.Column("nonce", _text(64), primary_key=True),
    # Unix seconds, the hall's clock: FLOAT is double precision on PostgreSQL, REAL (8 bytes) on SQLite.
    sa.Column("seen_at", sa.Float, nullable=False, index=True),
)

progress_failures = sa.Table(
    "progress_failures",
    metadata,
    # Failed progress lookups (Store.lookup_progress), one row per counted key: the receipt number
    # and the caller; and failed staff logins (hall.staff_auth), keyed by the name. Keys are hashed,
    # so the table holds no client addresses or names. Older rows are pruned.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key_hash", _text(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False, index=True),  # Unix seconds, the hall's clock
    sa.Index("ix_progress_failures_key_at", "key_hash", "at"),
)

heartbeats = sa.Table(
    "heartbeats",
    metadata,
    # The latest heartbeat of each terminal (hall.store.terminals), replaced by the next one.
    sa.Column("terminal_id", _text(64), primary_key=True),
    sa.Column("received_at", _text(40), nullable=False),  # ISO-8601 UTC, the hall's clock
    sa.Column("sent_at", _text(40), nullable=False),  # as the terminal sent it
    sa.Column("interval_s", sa.Integer, nullable=False),
    sa.Column("version", _text(40), nullable=False),
    sa.Column("devices", sa.JSON, nullable=False),
    sa.Column("outbox", sa.JSON, nullable=False),
    sa.Column("catalogue_version", _text(64), nullable=True),
    sa.Column("clock_skew_s", sa.Integer, nullable=True),  # how far the terminal's clock is behind the hall's
)


staff = sa.Table(
    "staff",
    metadata,
    # Written at start from the hall's configuration (hall.staff_auth), like the terminals' keys.
    sa.Column("name", _text(64), primary_key=True),
    sa.Column("password_hash", _text(200), nullable=False),  # scrypt$n$r$p$salt$hash
    sa.Column("created_at", _text(40), nullable=False),
)
