"""The ``feeds`` and ``fetches`` tables: the configured feeds, their state, every attempt."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from ..config import Feed
from ..errors import StoreError
from ..records import Article, FeedRow, FeedState, FetchRecord
from .articles import SaveResult, save_articles_in
from .base import StoreBase


class FeedTables(StoreBase):
    """The feeds' configuration, state and fetch history."""

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
        (feed_id, feed_name, url, etag, last_modified, error_count, next_fetch_at, disabled,
         disabled_reason, moved_to) = row
        return FeedRow(feed_id, feed_name, url, etag, last_modified, error_count, next_fetch_at,
                       disabled=bool(disabled), disabled_reason=disabled_reason,
                       moved_to=moved_to)

    def feed_moves(self) -> list[dict[str, Any]]:
        """Feeds that moved permanently (301/308) while feeds.yaml still names the old URL:
        name, url, moved_to, moved_at."""
        return self.rows("SELECT name, url, moved_to, moved_at FROM feeds "
                         "WHERE moved_to IS NOT NULL ORDER BY name")

    def record_fetch(self, feed_id: int, fetch: FetchRecord, state: FeedState | None,
                     articles: Sequence[Article] = (), fetched_at: str = "",
                     full_text: bool = False) -> SaveResult:
        """Store one fetch attempt, the feed's new state and its articles in one transaction.

        A crash before the commit leaves all or nothing: the ETag and the articles it covers
        move together. ``state`` None leaves the feed's row as it was.
        """
        with self.transaction() as conn:
            result = save_articles_in(conn, feed_id, articles, fetched_at, "feed")
            # New entries want their page; a changed entry wants it again (its text may have
            # changed too), before NER reads the old page text.
            wanted = result.new_ids + result.updated_ids
            if full_text and wanted:
                marks = ",".join("?" * len(wanted))
                conn.execute(f"UPDATE articles SET page_status = 'pending' WHERE url IS NOT "
                             f"NULL AND id IN ({marks})", wanted)
            _insert_fetch(conn, feed_id, fetch, len(result.new_ids), len(result.updated_ids))
            if state is not None:
                _update_feed(conn, feed_id, state)
            if result.new_ids:
                conn.execute("UPDATE feeds SET last_new_at = ? WHERE id = ?",
                             (fetched_at, feed_id))
        return result

    def record_job_error(self, feed_id: int, fetch: FetchRecord) -> None:
        """Record a feed job that raised (a bug, not the feed's verdict): one fetch row, and
        the feed's last outcome and error; its backoff and validators stay as they were."""
        with self.transaction() as conn:
            _insert_fetch(conn, feed_id, fetch, 0, 0)
            conn.execute("UPDATE feeds SET last_outcome = ?, last_error = ?, last_fetch_at = ? "
                         "WHERE id = ?", (fetch.outcome, fetch.error, fetch.started_at, feed_id))

    def recent_errors(self, limit: int = 8) -> list[dict[str, Any]]:
        """The latest failed fetches, newest first."""
        return self.rows(
            "SELECT f.started_at, feeds.name AS feed, f.error, f.detail FROM fetches f "
            "JOIN feeds ON feeds.id = f.feed_id WHERE f.outcome = 'failed' "
            "ORDER BY f.id DESC LIMIT ?", [limit])


def _insert_fetch(conn: sqlite3.Connection, feed_id: int, fetch: FetchRecord, new: int,
                  updated: int) -> None:
    conn.execute(
        "INSERT INTO fetches (feed_id, started_at, duration_ms, http_status, bytes, entries, "
        "outcome, error, detail, new_articles, updated_articles) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (feed_id, fetch.started_at, fetch.duration_ms, fetch.http_status, fetch.bytes,
         fetch.entries, fetch.outcome, fetch.error, fetch.detail, new, updated))


def _update_feed(conn: sqlite3.Connection, feed_id: int, state: FeedState) -> None:
    """Write a feed's state after a fetch: the columns every fetch sets, then those it sets
    only in some cases (a success, the feed disabled, validators or location moving)."""
    conn.execute(
        "UPDATE feeds SET last_status = ?, last_outcome = ?, last_error = ?, "
        "last_fetch_at = ?, error_count = ?, next_fetch_at = ? WHERE id = ?",
        (state.status, state.outcome, state.error, state.fetched_at, state.error_count,
         state.next_fetch_at, feed_id))
    if state.succeeded:
        conn.execute("UPDATE feeds SET last_success_at = ?, disabled = 0, "
                     "disabled_reason = NULL WHERE id = ?", (state.fetched_at, feed_id))
    elif state.disabled_reason is not None:
        conn.execute("UPDATE feeds SET disabled = 1, disabled_reason = ? WHERE id = ?",
                     (state.disabled_reason, feed_id))
    if state.validators is not None:
        conn.execute("UPDATE feeds SET etag = ?, last_modified = ? WHERE id = ?",
                     (state.validators.etag, state.validators.last_modified, feed_id))
    if state.move is not None:
        conn.execute("UPDATE feeds SET moved_to = ?, moved_at = ? WHERE id = ?",
                     (state.move.to, state.fetched_at if state.move.to else None, feed_id))
