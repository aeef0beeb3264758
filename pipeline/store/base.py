"""Opening the SQLite file and the transaction every write goes through.

WAL mode, a busy timeout, schema created and migrated by named migrations (sqlite-utils
``Migrations``), and writes grouped into ``BEGIN IMMEDIATE`` transactions so a batch lands
whole or not at all. A damaged or read-only file is one clear :class:`StoreError`.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import sqlite_utils

from ..errors import StoreError
from .schema import migrations

BUSY_TIMEOUT_MS = 10_000
#: SQLite's result codes for a file that is not (or no longer) a readable database.
DAMAGED_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def damaged_db_message(path: Path | str) -> str:
    """The one line shown for a damaged database file: which file, and how to recover."""
    return (f"{path}: the database file is damaged (not a readable SQLite database); "
            f"recover what is left with: sqlite3 {shlex.quote(str(path))} \".recover\" | "
            f"sqlite3 {shlex.quote(f'{path}.recovered')}")


def is_damaged(exc: BaseException) -> bool:
    """Whether a ``sqlite3`` error means the file itself is damaged (not locked, not full)."""
    return isinstance(exc, sqlite3.DatabaseError) and (
        getattr(exc, "sqlite_errorname", None) in DAMAGED_CODES
        or "not a database" in str(exc) or "malformed" in str(exc))


#: How SQLite says a read-only open needs what a read-only folder cannot give: the -shm file
#: of a WAL database (or its -wal) cannot be created there.
_NEEDS_IMMUTABLE = ("SQLITE_CANTOPEN", "SQLITE_READONLY")


def readonly_uri(path: Path | str) -> str:
    """The URI that opens an existing database for reading only, creating no file.

    ``mode=ro`` first. A WAL database needs its ``-shm`` file, which SQLite cannot create on
    a read-only file system or folder: then ``immutable=1`` — SQLite assumes nobody changes
    the file while it is open, which is what a read-only file system means (a copy on a
    read-only mount does not see a daemon's later writes to the original). Raises
    :class:`StoreError` for a missing or damaged file.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no such database (run 'spacewatch fetch' or 'demo' first)")
    base = f"file:{quote(str(path.resolve()))}?mode=ro"
    for uri in (base, base + "&immutable=1"):
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            if is_damaged(exc):
                raise StoreError(damaged_db_message(path)) from None
            name = getattr(exc, "sqlite_errorname", "") or ""
            cannot = name.startswith(_NEEDS_IMMUTABLE) or "unable to open" in str(exc) \
                or "readonly" in str(exc)
            if cannot and "immutable" not in uri:
                continue
            raise StoreError(f"{path}: cannot open the database read-only: {exc}") from None
        return uri
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def open_readonly(path: Path | str) -> sqlite3.Connection:
    """A connection that can only read (``PRAGMA query_only`` on the URI of
    :func:`readonly_uri`): no migration, no journal-mode switch, no file created."""
    uri = readonly_uri(path)
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the database read-only: {exc}") from None
    return conn


class StoreBase:
    """A connection to the SpaceWatch database: opening, transactions, reads and the
    ``meta`` table. :class:`pipeline.store.Store` adds the tables' own methods."""

    def __init__(self, path: str | Path, *, migrate: bool = True,
                 readonly: bool = False) -> None:
        self.path = Path(path)
        #: The folder made for the database file, if it had to be (the CLI says so).
        self.created_folder: Path | None = None
        #: Opened with :func:`open_readonly` (``status``, ``digest``): nothing is written, so
        #: it works on a read-only file system; the schema must already be current.
        self.readonly = readonly
        if readonly:
            self.db = sqlite_utils.Database(open_readonly(self.path))
            self._check_schema_is_current()
            return
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.created_folder = self.path.parent
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._prepare(migrate)
        except sqlite3.DatabaseError as exc:
            if is_damaged(exc):
                raise StoreError(damaged_db_message(self.path)) from None
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from None

    def _prepare(self, migrate: bool) -> None:
        """Switch a new file to WAL and apply pending migrations, one process at a time.

        sqlite-utils decides what is pending outside any transaction, and a journal-mode
        switch fails at once (no busy wait) while another connection reads, so two processes
        opening a new file together (a daemon starting while ``status`` runs) would collide.
        An exclusive ``flock`` on the database's folder serialises this first-open work; the
        second process then finds nothing to do. No extra file is created.
        """
        if self.db.journal_mode == "wal" and not (migrate and migrations.pending(self.db)):
            return
        folder = os.open(self.path.parent if str(self.path.parent) else ".", os.O_RDONLY)
        try:
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
            while True:
                try:
                    fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreError(f"{self.path}: another process has been setting up "
                                         "the database for too long") from None
                    time.sleep(0.05)
            if self.db.journal_mode != "wal":
                self.db.enable_wal()
            if migrate:
                migrations.apply(self.db)
        finally:
            os.close(folder)  # releases the lock

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        self.close()
        if exc is not None and is_damaged(exc):
            # A file whose first pages were fine fails later, on the first query that reads
            # a damaged page: the same one line as at open, instead of a traceback.
            raise StoreError(damaged_db_message(self.path)) from exc

    def close(self) -> None:
        self.db.close()

    def _check_schema_is_current(self) -> None:
        """A read-only store cannot migrate: an older file is a clear error, not a wrong
        figure or a "no such column" later."""
        try:
            pending = [m.name for m in migrations.pending(self.db)]
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if is_damaged(exc):
                raise StoreError(damaged_db_message(self.path)) from None
            raise StoreError(f"{self.path}: cannot read the database: {exc}") from None
        if pending:
            self.db.close()
            raise StoreError(f"{self.path}: the database schema is older than this SpaceWatch "
                             f"(missing {', '.join(pending)}); run 'spacewatch init' on it "
                             "where it is writable, then try again")

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    @property
    def schema_version(self) -> int:
        """How many migrations have been applied."""
        return len(migrations.applied(self.db))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolls back on any exception, then re-raises."""
        conn = self.conn
        if conn.in_transaction:
            raise StoreError("nested transaction")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                # mypy keeps the `in_transaction` is False narrowing from before BEGIN.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")  # type: ignore[unreachable]
                raise
            else:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:  # (as above: mypy thinks this is still False)
                conn.execute("ROLLBACK")  # type: ignore[unreachable]
            message = str(exc)
            if "full" in message or "locked" in message or "disk" in message or \
                    "readonly" in message:
                # Nothing of this transaction was written; everything committed before is
                # intact. Say so plainly instead of a traceback.
                raise StoreError(f"{self.path}: write failed and was rolled back "
                                 f"({message})") from None
            raise

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Run a read query and return rows as dictionaries."""
        return list(self.db.query(sql, params))

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Run a read query and return the first column of the first row (or None)."""
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    # -- meta ------------------------------------------------------------------------------

    def set_meta(self, key: str, value: str, now: str) -> None:
        """Store a key/value pair in its own small transaction."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO meta(key, value, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at", (key, value, now))

    def get_meta(self, key: str) -> dict[str, Any] | None:
        rows = self.rows("SELECT value, updated_at FROM meta WHERE key = ?", [key])
        return rows[0] if rows else None
