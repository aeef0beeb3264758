"""The SQLite store: the only module that writes SQL.

One file a user can copy, open in Datasette and query by hand: WAL mode, a busy timeout,
schema created and migrated by named migrations (sqlite-utils ``Migrations``), and writes
grouped into ``BEGIN IMMEDIATE`` transactions so a batch lands whole or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from ..config import Feed
from ..errors import StoreError
from ..normalize import Article
from .schema import migrations

if TYPE_CHECKING:
    from ..entities import Mention

BUSY_TIMEOUT_MS = 10_000


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


@dataclass
class SaveResult:
    """What one feed batch did to the article table."""

    new_ids: list[int]
    updated_ids: list[int]


class Store:
    """A connection to the SpaceWatch database. Use as a context manager."""

    def __init__(self, path: str | Path, *, migrate: bool = True) -> None:
        self.path = Path(path)
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if self.db.journal_mode != "wal":
                self.db.enable_wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA synchronous = NORMAL")
            if migrate:
                migrations.apply(self.db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

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
        """Make the feeds table reflect the configuration; state columns are kept."""
        with self.transaction() as conn:
            for feed in feeds:
                conn.execute(
                    "INSERT INTO feeds (name, url, enabled, interval_s, tags, language, "
                    "full_text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET url = excluded.url, "
                    "enabled = excluded.enabled, interval_s = excluded.interval_s, "
                    "tags = excluded.tags, language = excluded.language, "
                    "full_text = excluded.full_text",
                    (feed.name, feed.url, int(feed.enabled), feed.interval,
                     json.dumps(list(feed.tags)), feed.language,
                     int(feed.full_text if feed.full_text is not None else full_text_default),
                     now))
            names = [f.name for f in feeds]
            marks = ",".join("?" * len(names)) or "''"
            conn.execute(f"UPDATE feeds SET enabled = 0 WHERE name NOT IN ({marks})", names)

    def feed_status(self) -> list[dict[str, Any]]:
        """Per feed: its state columns and how many articles it brought."""
        return self.rows(
            "SELECT f.*, count(s.id) AS articles, "
            "coalesce(sum(a.text_source = 'page'), 0) AS full_text, "
            "coalesce(sum(a.page_status = 'failed'), 0) AS extraction_failed "
            "FROM feeds f LEFT JOIN article_sources s ON s.feed_id = f.id "
            "LEFT JOIN articles a ON a.id = s.article_id GROUP BY f.id ORDER BY f.name")

    def feed_row(self, name: str) -> FeedRow:
        row = self.conn.execute(
            "SELECT id, name, url, etag, last_modified, error_count, next_fetch_at, disabled "
            "FROM feeds WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise StoreError(f"feed {name!r} is not in the database")
        return FeedRow(*row[:7], disabled=bool(row[7]))

    def record_fetch(self, feed_id: int, fetch: dict[str, Any], feed_update: dict[str, Any],
                     articles: Sequence[Article] = (), fetched_at: str = "",
                     source: str = "feed", full_text: bool = False) -> SaveResult:
        """Store one fetch attempt, the feed's new state and its articles in one transaction.

        A crash before the commit leaves all or nothing: the ETag and the articles it covers
        move together.
        """
        with self.transaction() as conn:
            result = self._save_articles(conn, feed_id, articles, fetched_at, source)
            if full_text and result.new_ids:
                marks = ",".join("?" * len(result.new_ids))
                conn.execute(f"UPDATE articles SET page_status = 'pending' WHERE url IS NOT "
                             f"NULL AND id IN ({marks})", result.new_ids)
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
                    # The same entry, changed at its source: update it and let the later
                    # stages see it again.
                    conn.execute(
                        "UPDATE articles SET title = ?, summary = ?, content_hash = ?, "
                        "text = CASE WHEN text_source = 'feed' THEN ? ELSE text END, "
                        "updated_at = ?, nlp_version = NULL, match_version = NULL "
                        "WHERE id = ?",
                        (art.title, art.summary, art.content_hash, art.summary, fetched_at,
                         article_id))
                    result.updated_ids.append(article_id)
            conn.execute(
                "INSERT INTO article_sources (article_id, feed_id, guid, url, first_seen_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(feed_id, guid) DO NOTHING",
                (article_id, feed_id, art.guid, art.url, fetched_at))
        return result

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
                      now: str, after: Any = None) -> None:
        """Replace the mentions of each article and stamp its NLP version, in one transaction.

        ``after(conn)`` runs inside the same transaction (the matching stage writes there), so
        an article never has half its mentions or matches.
        """
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
                conn.execute("UPDATE articles SET nlp_version = ?, nlp_at = ?, nlp_error = NULL "
                             "WHERE id = ?", (version, now, article_id))
            if after is not None:
                after(conn)

    def reset_nlp(self) -> None:
        """Mark every article stale for the NLP stage (``reprocess --all``)."""
        with self.transaction() as conn:
            conn.execute("UPDATE articles SET nlp_version = NULL, nlp_attempts = 0")

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

    def upsert_seeds(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record the seeds and their profiles; seeds no longer in ``seeds/`` stay, with
        their events, so the log keeps its history."""
        with self.transaction() as conn:
            for row in rows:
                conn.execute(
                    "INSERT INTO seeds (id, title, path, date, url, profile_version, profile, "
                    "updated_at) VALUES (:id, :title, :path, :date, :url, :profile_version, "
                    ":profile, :updated_at) ON CONFLICT(id) DO UPDATE SET title = :title, "
                    "path = :path, date = :date, url = :url, "
                    "profile_version = :profile_version, profile = :profile, "
                    "updated_at = :updated_at", row)

    @staticmethod
    def write_matches(conn: sqlite3.Connection, article_id: int,
                      matches: Sequence[tuple[str, float, str]], version: str, now: str,
                      seed_ids: Sequence[str]) -> None:
        """Replace one article's events for ``seed_ids`` (inside the caller's transaction):
        pairs above the threshold are upserted, the others removed — never duplicated."""
        keep = {seed_id for seed_id, _s, _e in matches}
        for seed_id in seed_ids:
            if seed_id not in keep:
                conn.execute("DELETE FROM matches WHERE article_id = ? AND seed_id = ?",
                             (article_id, seed_id))
        for seed_id, value, explanation in matches:
            conn.execute(
                "INSERT INTO matches (article_id, seed_id, score, explanation, matched_at, "
                "pipeline_version) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(article_id, seed_id) DO UPDATE SET score = excluded.score, "
                "explanation = excluded.explanation, pipeline_version = "
                "excluded.pipeline_version, matched_at = CASE WHEN matches.score = "
                "excluded.score THEN matches.matched_at ELSE excluded.matched_at END",
                (article_id, seed_id, value, explanation, now, version))
        conn.execute("UPDATE articles SET match_version = ? WHERE id = ?",
                     (version.split("|")[-1], article_id))

    def match_count(self) -> int:
        """How many events the log holds."""
        return self.scalar("SELECT count(*) FROM matches") or 0

    def matches_of(self, article_id: int) -> list[dict[str, Any]]:
        """One article's stored events, explanations decoded."""
        return [dict(r, explanation=json.loads(r["explanation"])) for r in self.rows(
            "SELECT seed_id, score, explanation FROM matches WHERE article_id = ?",
            [article_id])]

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
        """(article count, texts of the latest ``limit`` articles, entity document counts)."""
        n = self.scalar("SELECT count(*) FROM articles") or 0
        texts = [r[0] + "\n" + r[1] for r in self.conn.execute(
            "SELECT title, text FROM articles ORDER BY id DESC LIMIT ?", (limit,))]
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
