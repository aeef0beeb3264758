"""The SQLite store: the only module that writes SQL.

One file a user can copy, open in Datasette and query by hand: WAL mode, a busy timeout,
schema created and migrated by named migrations (sqlite-utils ``Migrations``), and writes
grouped into ``BEGIN IMMEDIATE`` transactions so a batch lands whole or not at all.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from .. import events
from ..config import Feed
from ..errors import StoreError
from ..events import ArticleScores, Current, EventCounts, Scoring, decide
from ..normalize import Article
from .schema import migrations

if TYPE_CHECKING:
    from ..entities import Mention

BUSY_TIMEOUT_MS = 10_000
#: SQLite's result codes for a file that is not (or no longer) a readable database.
DAMAGED_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def damaged_db_message(path: Path | str) -> str:
    """The one line shown for a damaged database file: which file, and how to recover."""
    import shlex

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
    from urllib.parse import quote

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


@dataclass
class FeedRow:
    """A feed's stored state, as the fetch stage needs it."""

    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    error_count: int
    next_fetch_at: str | None
    disabled: bool
    disabled_reason: str | None = None
    #: Where the feed moved permanently (301/308): fetched instead of ``url`` until
    #: feeds.yaml names a URL of its own.
    moved_to: str | None = None


@dataclass
class SaveResult:
    """What one feed batch did to the article table."""

    new_ids: list[int]
    updated_ids: list[int]


class Store:
    """A connection to the SpaceWatch database. Use as a context manager."""

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

    def __enter__(self) -> Store:
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
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
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

    # -- feeds -----------------------------------------------------------------------------

    def sync_feeds(self, feeds: Sequence[Feed], full_text_default: bool, now: str) -> None:
        """Make the feeds table reflect the configuration; state columns are kept.

        A feed whose configured URL changed starts afresh: no backoff, not disabled, no
        recorded move, and no ETag / Last-Modified (they belong to the old URL), except when
        the new URL is the one it had moved to, whose validators they are.
        """
        same = "feeds.url = excluded.url"
        validators = f"{same} OR feeds.moved_to IS excluded.url"
        with self.transaction() as conn:
            for feed in feeds:
                conn.execute(
                    "INSERT INTO feeds (name, url, enabled, interval_s, tags, language, "
                    "full_text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET url = excluded.url, "
                    "enabled = excluded.enabled, interval_s = excluded.interval_s, "
                    "tags = excluded.tags, language = excluded.language, "
                    "full_text = excluded.full_text, "
                    f"etag = CASE WHEN {validators} THEN feeds.etag END, "
                    f"last_modified = CASE WHEN {validators} THEN feeds.last_modified END, "
                    f"moved_to = CASE WHEN {same} THEN feeds.moved_to END, "
                    f"moved_at = CASE WHEN {same} THEN feeds.moved_at END, "
                    f"disabled = CASE WHEN {same} THEN feeds.disabled ELSE 0 END, "
                    f"disabled_reason = CASE WHEN {same} THEN feeds.disabled_reason END, "
                    f"error_count = CASE WHEN {same} THEN feeds.error_count ELSE 0 END, "
                    f"next_fetch_at = CASE WHEN {same} THEN feeds.next_fetch_at END",
                    (feed.name, feed.url, int(feed.enabled), feed.interval,
                     json.dumps(list(feed.tags)), feed.language,
                     int(feed.full_text if feed.full_text is not None else full_text_default),
                     now))
            names = [f.name for f in feeds]
            marks = ",".join("?" * len(names)) or "''"
            conn.execute(f"UPDATE feeds SET enabled = 0 WHERE name NOT IN ({marks})", names)

    def feed_status(self) -> list[dict[str, Any]]:
        """Per feed: its state columns and how many articles it brought.

        Columns are named one by one: the counts are ``articles_…`` so that no feed column
        (``full_text`` is the feed's flag) can shadow them.
        """
        return self.rows(
            "SELECT f.id, f.name, f.url, f.enabled, f.interval_s, f.tags, f.language, "
            "f.full_text, f.last_status, f.last_outcome, f.last_error, f.last_fetch_at, "
            "f.last_success_at, f.last_new_at, f.error_count, f.next_fetch_at, f.disabled, "
            "f.disabled_reason, f.created_at, count(s.id) AS articles, "
            "coalesce(sum(a.text_source = 'page'), 0) AS articles_full_text, "
            "coalesce(sum(a.page_status = 'failed'), 0) AS articles_extraction_failed "
            "FROM feeds f LEFT JOIN article_sources s ON s.feed_id = f.id "
            "LEFT JOIN articles a ON a.id = s.article_id GROUP BY f.id ORDER BY f.name")

    def feed_row(self, name: str) -> FeedRow:
        row = self.conn.execute(
            "SELECT id, name, url, etag, last_modified, error_count, next_fetch_at, disabled, "
            "disabled_reason, moved_to FROM feeds WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise StoreError(f"feed {name!r} is not in the database")
        return FeedRow(*row[:7], disabled=bool(row[7]), disabled_reason=row[8],
                       moved_to=row[9])

    def feed_moves(self) -> list[dict[str, Any]]:
        """Feeds that moved permanently (301/308) while feeds.yaml still names the old URL:
        name, url, moved_to, moved_at."""
        return self.rows("SELECT name, url, moved_to, moved_at FROM feeds "
                         "WHERE moved_to IS NOT NULL ORDER BY name")

    def record_fetch(self, feed_id: int, fetch: dict[str, Any], feed_update: dict[str, Any],
                     articles: Sequence[Article] = (), fetched_at: str = "",
                     source: str = "feed", full_text: bool = False) -> SaveResult:
        """Store one fetch attempt, the feed's new state and its articles in one transaction.

        A crash before the commit leaves all or nothing: the ETag and the articles it covers
        move together.
        """
        with self.transaction() as conn:
            result = self._save_articles(conn, feed_id, articles, fetched_at, source)
            # New entries want their page; a changed entry wants it again (its text may have
            # changed too), before NER reads the old page text.
            wanted = result.new_ids + result.updated_ids
            if full_text and wanted:
                marks = ",".join("?" * len(wanted))
                conn.execute(f"UPDATE articles SET page_status = 'pending' WHERE url IS NOT "
                             f"NULL AND id IN ({marks})", wanted)
            fetch = dict(fetch, feed_id=feed_id, new_articles=len(result.new_ids),
                         updated_articles=len(result.updated_ids))
            cols = ", ".join(fetch)
            conn.execute(f"INSERT INTO fetches ({cols}) VALUES ({', '.join('?' * len(fetch))})",
                         list(fetch.values()))
            if result.new_ids:
                feed_update = dict(feed_update, last_new_at=fetched_at)
            if feed_update:
                sets = ", ".join(f"{k} = ?" for k in feed_update)
                conn.execute(f"UPDATE feeds SET {sets} WHERE id = ?",
                             [*feed_update.values(), feed_id])
        return result

    def save_articles(self, articles: Sequence[Article], fetched_at: str,
                      source: str = "import") -> SaveResult:
        """Store articles that came from no feed (``spacewatch import``) in one transaction."""
        with self.transaction() as conn:
            return self._save_articles(conn, None, articles, fetched_at, source)

    def _save_articles(self, conn: sqlite3.Connection, feed_id: int | None,
                       articles: Sequence[Article], fetched_at: str,
                       source: str) -> SaveResult:
        result = SaveResult([], [])
        for art in articles:
            article_id = self._find_article(conn, feed_id, art)
            if article_id is None:
                cur = conn.execute(
                    "INSERT INTO articles (feed_id, url, guid, title, summary, text, "
                    "text_source, author, language, published_at, published_estimated, "
                    "fetched_at, content_hash, source) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'feed', ?, ?, ?, ?, ?, ?, ?)",
                    (feed_id, art.url, art.guid, art.title, art.summary, art.summary,
                     art.author, art.language, art.published_at, int(art.published_estimated),
                     fetched_at, art.content_hash, source))
                article_id = int(cur.lastrowid or 0)
                result.new_ids.append(article_id)
            else:
                row = conn.execute("SELECT content_hash, text_source FROM articles WHERE id = ?",
                                   (article_id,)).fetchone()
                known_source = conn.execute(
                    "SELECT 1 FROM article_sources WHERE article_id = ? AND feed_id IS ?",
                    (article_id, feed_id)).fetchone()
                if row[0] != art.content_hash and known_source:
                    # The same entry, changed at its source: update it (the earlier text is
                    # kept in article_versions) and let the later stages see it again; its
                    # events are re-scored into new versions, never rewritten.
                    conn.execute(
                        "INSERT INTO article_versions (article_id, title, summary, text, "
                        "content_hash, replaced_at) SELECT id, title, summary, text, "
                        "content_hash, ? FROM articles WHERE id = ?", (fetched_at, article_id))
                    conn.execute(
                        "UPDATE articles SET title = ?, summary = ?, content_hash = ?, "
                        "text = CASE WHEN text_source = 'feed' THEN ? ELSE text END, "
                        "updated_at = ?, nlp_version = NULL, match_version = NULL "
                        "WHERE id = ?",
                        (art.title, art.summary, art.content_hash, art.summary, fetched_at,
                         article_id))
                    result.updated_ids.append(article_id)
            self._link_source(conn, article_id, feed_id, art, fetched_at)
        return result

    @staticmethod
    def _link_source(conn: sqlite3.Connection, article_id: int, feed_id: int | None,
                     art: Article, fetched_at: str) -> None:
        """Record that this feed carries the article: one row per entry. An entry whose guid
        changed but whose link did not (a guid regenerated on every fetch) is the same entry:
        its row takes the new guid instead of a second row being added."""
        if conn.execute("SELECT 1 FROM article_sources WHERE feed_id IS ? AND guid = ?",
                        (feed_id, art.guid)).fetchone():
            return
        if feed_id is not None and art.url and conn.execute(
                "UPDATE article_sources SET guid = ? WHERE id = (SELECT id FROM article_sources "
                "WHERE article_id = ? AND feed_id = ? AND url = ? LIMIT 1)",
                (art.guid, article_id, feed_id, art.url)).rowcount:
            return
        conn.execute(
            "INSERT INTO article_sources (article_id, feed_id, guid, url, first_seen_at) "
            "VALUES (?, ?, ?, ?, ?)", (article_id, feed_id, art.guid, art.url, fetched_at))

    @staticmethod
    def _find_article(conn: sqlite3.Connection, feed_id: int | None,
                      art: Article) -> int | None:
        row = conn.execute("SELECT article_id FROM article_sources WHERE feed_id IS ? "
                           "AND guid = ?", (feed_id, art.guid)).fetchone()
        if row is None and art.url:
            row = conn.execute("SELECT id FROM articles WHERE url = ?", (art.url,)).fetchone()
        if row is None and len(art.title) + len(art.summary) >= 40:
            row = conn.execute("SELECT id FROM articles WHERE content_hash = ? LIMIT 1",
                               (art.content_hash,)).fetchone()
        return int(row[0]) if row else None

    # -- NLP stage -------------------------------------------------------------------------

    def articles_needing_nlp(self, version: str, max_attempts: int,
                             limit: int | None = None) -> list[dict[str, Any]]:
        """Articles never processed, or processed by another NLP version (oldest first);
        those that failed ``max_attempts`` times are left for a person to look at."""
        sql = ("SELECT id, title, text, language FROM articles "
               "WHERE (nlp_version IS NULL OR nlp_version != ?) AND nlp_attempts < ? "
               "AND (page_status IS NULL OR page_status != 'pending') ORDER BY id")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self.rows(sql, [version, max_attempts])

    def save_mentions(self, results: Sequence[tuple[int, list[Mention]]], version: str,
                      now: str) -> None:
        """Replace the mentions of each article and stamp its NLP version, in one transaction
        (an article never has half its mentions). The articles become stale for matching,
        which runs once every pending article has its mentions (see ``stages``)."""
        with self.transaction() as conn:
            for article_id, mentions in results:
                conn.execute("DELETE FROM mentions WHERE article_id = ?", (article_id,))
                for m in mentions:
                    conn.execute(
                        "INSERT INTO entities (id, name, kind, wikidata_id, origin, "
                        "first_seen_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                        "name = CASE WHEN entities.origin = 'gazetteer' THEN excluded.name "
                        "ELSE entities.name END, "
                        "kind = CASE WHEN excluded.kind = 'OFFICIAL' OR "
                        "entities.origin = 'gazetteer' THEN excluded.kind ELSE entities.kind END, "
                        "wikidata_id = excluded.wikidata_id",
                        (m.entity_id, m.name, m.kind, m.wikidata, m.origin, now))
                    conn.execute(
                        'INSERT INTO mentions (article_id, entity_id, surface, start, "end", '
                        "sentence, role) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (article_id, m.entity_id, m.surface, m.start, m.end, m.sentence, m.role))
                conn.execute("UPDATE articles SET nlp_version = ?, nlp_at = ?, nlp_error = NULL, "
                             "match_version = NULL WHERE id = ?", (version, now, article_id))

    def reset_nlp(self) -> None:
        """Mark every article stale for the NLP stage (``reprocess --all``)."""
        with self.transaction() as conn:
            conn.execute("UPDATE articles SET nlp_version = NULL, nlp_attempts = 0, "
                         "match_version = NULL")

    def record_nlp_failure(self, article_id: int, error: str) -> None:
        """Count a failed NLP attempt on one article; it is retried on the next pass."""
        with self.transaction() as conn:
            conn.execute("UPDATE articles SET nlp_attempts = nlp_attempts + 1, nlp_error = ? "
                         "WHERE id = ?", (error[:500], article_id))

    def top_entities(self, kind: str | None = None, since: str | None = None,
                     limit: int = 30) -> list[dict[str, Any]]:
        """Entities by number of mentions (and of articles), optionally filtered."""
        where, params = [], []
        if kind:
            where.append("e.kind = ?")
            params.append(kind)
        if since:
            where.append("a.published_at >= ?")
            params.append(since)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return self.rows(
            "SELECT e.id, e.name, e.kind, e.origin, count(*) AS mentions, "
            "count(DISTINCT m.article_id) AS articles FROM mentions m "
            "JOIN entities e ON e.id = m.entity_id JOIN articles a ON a.id = m.article_id "
            f"{clause} GROUP BY e.id ORDER BY mentions DESC, e.name LIMIT {int(limit)}", params)

    # -- seeds and matches -----------------------------------------------------------------

    def sync_seeds(self, rows: Sequence[dict[str, Any]], now: str,
                   skipped: Sequence[str] = ()) -> None:
        """Make the seeds table reflect ``seeds/`` (only matching runs call this; listing
        seeds writes nothing). A seed no longer there is retired, not deleted: its events
        stay in ``event_history`` but leave ``event_log`` and the digest; a seed that comes
        back is un-retired. A seed whose file is among ``skipped`` (files that failed
        validation) is not retired: it is being edited, not removed. An empty ``rows``
        retires nothing: no seed at all is far more often a wrong ``seeds_dir`` than the end
        of every story."""
        with self.transaction() as conn:
            for row in rows:
                conn.execute(
                    "INSERT INTO seeds (id, title, path, date, url, profile_version, profile, "
                    "updated_at) VALUES (:id, :title, :path, :date, :url, :profile_version, "
                    ":profile, :updated_at) ON CONFLICT(id) DO UPDATE SET title = :title, "
                    "path = :path, date = :date, url = :url, "
                    "profile_version = :profile_version, profile = :profile, "
                    "updated_at = :updated_at, retired_at = NULL", row)
            if not rows:
                return
            ids = {row["id"] for row in rows}
            invalid = {Path(p).resolve() for p in skipped}
            for seed_id, path in conn.execute(
                    "SELECT id, path FROM seeds WHERE retired_at IS NULL").fetchall():
                if seed_id not in ids and not (path and Path(path).resolve() in invalid):
                    conn.execute("UPDATE seeds SET retired_at = ? WHERE id = ?", (now, seed_id))

    def record_scores(self, batch: Sequence[ArticleScores], scoring: Scoring,
                      now: str) -> EventCounts:
        """Apply fresh scores to the event log, in one transaction (see ``pipeline.events``
        for the rule): first versions and later versions are inserted, a replaced version
        only gets its ``superseded_at``; nothing is updated otherwise, nothing deleted."""
        counts = EventCounts(rescored=len(batch))
        with self.transaction() as conn:
            for article in batch:
                current = {r[0]: Current(id=r[1], status=r[2], score=r[3], version=r[4])
                           for r in conn.execute(
                               "SELECT seed_id, id, status, score, version FROM matches "
                               "WHERE article_id = ? AND superseded_at IS NULL",
                               (article.article_id,))}
                for fresh in article.scores:
                    before = current.get(fresh.seed_id)
                    outcome = decide(before, fresh.score, scoring.threshold)
                    counts.add(outcome)
                    if outcome not in (events.NEW, events.NEW_VERSION, events.WITHDRAW):
                        continue
                    if before is not None:
                        conn.execute("UPDATE matches SET superseded_at = ? WHERE id = ?",
                                     (now, before.id))
                    conn.execute(
                        "INSERT INTO matches (article_id, seed_id, score, explanation, "
                        "matched_at, pipeline_version, status, version, seed_version, "
                        "scorer_version, corpus_version, supersedes) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (article.article_id, fresh.seed_id, fresh.score, fresh.explanation,
                         now, article.pipeline_version,
                         events.WITHDRAWN if outcome == events.WITHDRAW else events.MATCH,
                         before.version + 1 if before else 1, fresh.seed_version,
                         scoring.scorer_version, scoring.corpus_version,
                         before.id if before else None))
                conn.execute("UPDATE articles SET match_version = ? WHERE id = ?",
                             (scoring.match_version, article.article_id))
        return counts

    def match_count(self) -> int:
        """How many events the log holds now (current versions of live seeds' matches)."""
        return self.scalar("SELECT count(*) FROM event_log") or 0

    def matches_of(self, article_id: int) -> list[dict[str, Any]]:
        """One article's current events (as stored when they were matched), explanations
        decoded."""
        return [dict(r, explanation=json.loads(r["explanation"])) for r in self.rows(
            "SELECT seed_id, score, explanation FROM matches WHERE article_id = ? "
            "AND superseded_at IS NULL AND status = 'match'", [article_id])]

    def top_events(self, limit: int = 5) -> list[dict[str, Any]]:
        """The best-scoring events with their explanations decoded."""
        return [dict(r, explanation=json.loads(r["explanation"])) for r in self.rows(
            "SELECT e.score, e.title, e.feed, e.published_at, m.explanation FROM event_log e "
            "JOIN matches m ON m.id = e.event_id ORDER BY e.score DESC LIMIT ?", [limit])]

    def latest_event_published(self) -> str | None:
        """Publication time of the newest matched article (None with an empty log)."""
        return self.scalar("SELECT max(published_at) FROM event_log")

    def recent_errors(self, limit: int = 8) -> list[dict[str, Any]]:
        """The latest failed fetches, newest first."""
        return self.rows(
            "SELECT f.started_at, feeds.name AS feed, f.error, f.detail FROM fetches f "
            "JOIN feeds ON feeds.id = f.feed_id WHERE f.outcome = 'failed' "
            "ORDER BY f.id DESC LIMIT ?", [limit])

    def articles_needing_match(self, version: str, limit: int | None = None) -> list[int]:
        """Processed articles whose matches were computed with other seeds or scorer."""
        sql = ("SELECT id FROM articles WHERE nlp_version IS NOT NULL AND "
               "(match_version IS NULL OR match_version != ?) ORDER BY id")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [r[0] for r in self.conn.execute(sql, (version,))]

    def articles_by_id(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(ids))
        return self.rows(f"SELECT id, title, text, nlp_version FROM articles "
                         f"WHERE id IN ({marks}) ORDER BY id", list(ids))

    def mentions_for(self, ids: Sequence[int]) -> dict[int, list[Mention]]:
        """Stored mentions of these articles, as :class:`Mention` records."""
        from ..entities import Mention

        out: dict[int, list[Mention]] = {i: [] for i in ids}
        marks = ",".join("?" * len(ids))
        for r in self.rows(
                'SELECT m.article_id, m.entity_id, e.name, e.kind, e.origin, m.surface, '
                'm.start, m."end", m.sentence, m.role, e.wikidata_id FROM mentions m '
                f"JOIN entities e ON e.id = m.entity_id WHERE m.article_id IN ({marks}) "
                "ORDER BY m.article_id, m.start", list(ids)):
            out[r["article_id"]].append(Mention(
                entity_id=r["entity_id"], name=r["name"], kind=r["kind"], origin=r["origin"],
                surface=r["surface"], start=r["start"], end=r["end"], sentence=r["sentence"],
                role=r["role"], wikidata=r["wikidata_id"]))
        return out

    def background_sample(self, limit: int) -> tuple[int, list[str], dict[str, int]]:
        """(article count, texts of the latest ``limit`` articles, entity document counts).

        "Latest" is by publication time, ties broken by content: the sample (and so every
        score) depends on which articles are stored, never on the order they arrived in."""
        n = self.scalar("SELECT count(*) FROM articles") or 0
        texts = [r[0] + "\n" + r[1] for r in self.conn.execute(
            "SELECT title, text FROM articles ORDER BY published_at DESC, content_hash DESC "
            "LIMIT ?", (limit,))]
        df = {r[0]: r[1] for r in self.conn.execute(
            "SELECT entity_id, count(DISTINCT article_id) FROM mentions GROUP BY entity_id")}
        return n, texts, df

    # -- full text -------------------------------------------------------------------------

    def articles_needing_pages(self, max_attempts: int) -> list[dict[str, Any]]:
        """Articles whose page is wanted: pending, or failed with attempts left. Each row
        carries the URL of the feed that brought it (its host may be fetched)."""
        return self.rows(
            "SELECT a.id, a.url, a.page_status, coalesce(f.url, '') AS feed_url "
            "FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id "
            "WHERE a.url IS NOT NULL AND (a.page_status = 'pending' OR "
            "(a.page_status = 'failed' AND a.page_attempts < ?)) ORDER BY a.id",
            [max_attempts])

    def save_page(self, page: Any, article_ids: Sequence[int], now: str) -> None:
        """Record a fetched page and apply it to its articles, in one transaction.

        Text from the page replaces the summary-based text; title, author and date fill in
        only what the feed lacked. The later stages are made stale so they run again.
        """
        marks = ",".join("?" * len(article_ids))
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO pages (url, final_url, http_status, ok, title, author, "
                "published_at, error, chars, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(url) DO UPDATE SET final_url = excluded.final_url, "
                "http_status = excluded.http_status, ok = excluded.ok, title = excluded.title, "
                "author = excluded.author, published_at = excluded.published_at, "
                "error = excluded.error, chars = excluded.chars, fetched_at = excluded.fetched_at",
                (page.url, page.final_url, page.http_status, int(page.ok), page.title,
                 page.author, page.published_at, page.error, len(page.text), now))
            if page.ok:
                conn.execute(
                    "UPDATE articles SET text = ?, text_source = 'page', text_at = ?, "
                    "page_status = 'ok', page_error = NULL, page_attempts = page_attempts + 1, "
                    "title = CASE WHEN title = '' AND ? IS NOT NULL THEN ? ELSE title END, "
                    "author = coalesce(author, ?), "
                    "published_at = CASE WHEN published_estimated = 1 AND ? IS NOT NULL "
                    "THEN ? ELSE published_at END, "
                    "published_estimated = CASE WHEN ? IS NOT NULL THEN 0 "
                    "ELSE published_estimated END, "
                    f"nlp_version = NULL, match_version = NULL WHERE id IN ({marks})",
                    (page.text, now, page.title, page.title, page.author, page.published_at,
                     page.published_at, page.published_at, *article_ids))
            else:
                conn.execute(
                    "UPDATE articles SET page_attempts = page_attempts + 1, page_error = ?, "
                    f"page_status = 'failed' WHERE id IN ({marks})",
                    (page.error, *article_ids))
