"""The gateway's SQLite database: one file in WAL mode, a short-lived connection per operation.

Each module (store, inbox, audit log, replay guard, upload queue) keeps its own tables in the
same file. Connections are opened per operation so that the API, the feed loop and worker
threads never share one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

BUSY_TIMEOUT_S = 30


def create_tables(db_path: Path, schema: str) -> None:
    """Create `schema`'s tables (statements must be idempotent) and switch the file to WAL."""
    with connect(db_path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)


def add_columns(db_path: Path, table: str, columns: Mapping[str, str]) -> None:
    """Add `columns` (name: declaration) that `table` lacks in a database an older gateway made."""
    with connect(db_path) as db:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, declaration in columns.items():
            if name not in present:
                with suppress(sqlite3.OperationalError):  # another process added it meanwhile
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """An autocommit connection, closed on exit."""
    db = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def transaction(db_path: Path) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): writers from several threads or
    processes serialise on the database lock, so read-modify-write steps never interleave."""
    with connect(db_path) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
