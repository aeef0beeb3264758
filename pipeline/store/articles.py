"""The ``articles`` table and what feeds into it: entries from feeds and imports, and the
pages fetched for their full text."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..language import LanguageGuess
from ..records import Article, Page
from .base import StoreBase


@dataclass
class SaveResult:
    """What one feed batch did to the article table."""

    new_ids: list[int]
    updated_ids: list[int]


class ArticleTables(StoreBase):
    """Articles stored from feeds and imports, and their pages."""

    def save_articles(self, articles: Sequence[Article], fetched_at: str,
                      source: str = "import") -> SaveResult:
        """Store articles that came from no feed (``spacewatch import``) in one transaction."""
        with self.transaction() as conn:
            return save_articles_in(conn, None, articles, fetched_at, source)

    def articles_needing_pages(self, max_attempts: int) -> list[dict[str, Any]]:
        """Articles whose page is wanted: pending, or failed with attempts left. Each row
        carries the URL of the feed that brought it (its host may be fetched)."""
        return self.rows(
            "SELECT a.id, a.url, a.page_status, coalesce(f.url, '') AS feed_url, a.title, "
            "a.language, a.language_source, f.language AS feed_language "
            "FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id "
            "WHERE a.url IS NOT NULL AND (a.page_status = 'pending' OR "
            "(a.page_status = 'failed' AND a.page_attempts < ?)) ORDER BY a.id",
            [max_attempts])

    def save_page(self, page: Page, article_ids: Sequence[int], now: str,
                  language: LanguageGuess | None = None) -> None:
        """Record a fetched page and apply it to its articles, in one transaction.

        Text from the page replaces the summary-based text; title, author and date fill in
        only what the feed lacked. ``language``, identified on the page's text, replaces the
        language of those articles whose own text was too short to tell (source ``hint`` or
        ``default``, or none recorded). The later stages are made stale so they run again.
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
                if language is not None:
                    conn.execute(
                        "UPDATE articles SET language = ?, language_confidence = ?, "
                        "language_source = ? WHERE (language_source IS NULL OR "
                        f"language_source IN ('hint', 'default')) AND id IN ({marks})",
                        (language.code, round(language.confidence, 4), language.source,
                         *article_ids))
            else:
                conn.execute(
                    "UPDATE articles SET page_attempts = page_attempts + 1, page_error = ?, "
                    f"page_status = 'failed' WHERE id IN ({marks})",
                    (page.error, *article_ids))


def save_articles_in(conn: sqlite3.Connection, feed_id: int | None,
                     articles: Sequence[Article], fetched_at: str,
                     source: str) -> SaveResult:
    """Insert new articles and update changed ones, inside the caller's transaction (a
    feed's fetch, or an import)."""
    result = SaveResult([], [])
    for art in articles:
        article_id = _find_article(conn, feed_id, art)
        if article_id is None:
            cur = conn.execute(
                "INSERT INTO articles (feed_id, url, guid, title, summary, text, "
                "text_source, author, language, language_confidence, language_source, "
                "published_at, published_estimated, fetched_at, content_hash, source) "
                "VALUES (?, ?, ?, ?, ?, ?, 'feed', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (feed_id, art.url, art.guid, art.title, art.summary, art.summary,
                 art.author, art.language, art.language_confidence, art.language_source,
                 art.published_at, int(art.published_estimated),
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
                    # a page's text decided the language: it still does
                    "language = CASE WHEN text_source = 'feed' THEN ? ELSE language END, "
                    "language_confidence = CASE WHEN text_source = 'feed' THEN ? "
                    "ELSE language_confidence END, "
                    "language_source = CASE WHEN text_source = 'feed' THEN ? "
                    "ELSE language_source END, "
                    "updated_at = ?, nlp_version = NULL, match_version = NULL "
                    "WHERE id = ?",
                    (art.title, art.summary, art.content_hash, art.summary, art.language,
                     art.language_confidence, art.language_source, fetched_at,
                     article_id))
                result.updated_ids.append(article_id)
        _link_source(conn, article_id, feed_id, art, fetched_at)
    return result

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
