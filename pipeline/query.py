"""Ad-hoc, read-only SQL over the event log, full-text search, and the example questions.

Three locks keep ``spacewatch query`` from changing anything, even by mistake: the database
is opened read-only (``mode=ro``, or ``immutable=1`` on a read-only file system), ``PRAGMA
query_only`` is on, and an authorizer refuses every write, ``ATTACH``/``DETACH`` (which would
create files) and every PRAGMA but the read-only ones. Only statements that start with
SELECT, WITH, VALUES, EXPLAIN or PRAGMA are run at all (so ``VACUUM INTO`` cannot copy the
database out). A progress handler stops a statement at its time limit or on Ctrl-C.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import QueryCancelled, QueryError, QueryTimeLimit, SpaceWatchError, StoreError
from .russian import get_lemmatizer, is_cyrillic
from .store import damaged_db_message, is_damaged, open_readonly

#: Like Datasette's ``sql_time_limit_ms``: ``spacewatch query`` stops a statement after this
#: long inside SQLite unless ``--time-limit`` says otherwise.
DEFAULT_TIME_LIMIT_MS = 1000
#: SQLite virtual-machine steps between two checks of the time limit and of Ctrl-C.
PROGRESS_STEPS = 1000
#: Rows read from SQLite at a time.
FETCH_BATCH = 256

#: PRAGMAs that only read, whatever their argument (a table or index name, a row limit).
INSPECT_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info",
                             "index_xinfo", "foreign_key_list", "table_list",
                             "integrity_check", "quick_check", "foreign_key_check"})
#: PRAGMAs that read without an argument but would write with one (user_version = 7).
READ_PRAGMAS = frozenset({"database_list", "compile_options", "collation_list",
                          "function_list", "pragma_list", "table_list", "user_version",
                          "schema_version", "page_count", "page_size", "freelist_count",
                          "journal_mode", "encoding", "data_version", "application_id",
                          "auto_vacuum", "foreign_keys"})
_ALLOWED_START = re.compile(r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*(select|with|values|explain|"
                            r"pragma)\b", re.I | re.S)
_DENIED = {
    sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE,
    sqlite3.SQLITE_DELETE, sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_INDEX,
    sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_CREATE_TRIGGER, sqlite3.SQLITE_CREATE_TEMP_TABLE,
    sqlite3.SQLITE_CREATE_TEMP_INDEX, sqlite3.SQLITE_CREATE_TEMP_VIEW,
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER, sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_DROP_VIEW, sqlite3.SQLITE_DROP_TRIGGER,
    sqlite3.SQLITE_DROP_TEMP_TABLE, sqlite3.SQLITE_DROP_TEMP_INDEX,
    sqlite3.SQLITE_DROP_TEMP_VIEW, sqlite3.SQLITE_DROP_TEMP_TRIGGER, sqlite3.SQLITE_DROP_VTABLE,
    sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_REINDEX, sqlite3.SQLITE_ANALYZE,
    sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT,
}
_ACTION_NAMES = {
    sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_INSERT: "INSERT", sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE", sqlite3.SQLITE_TRANSACTION: "a transaction",
    sqlite3.SQLITE_SAVEPOINT: "a savepoint",
}


@dataclass(frozen=True)
class Example:
    """A question answered in SQL: shown in the README, canned in Datasette, benchmarked."""

    name: str
    title: str
    sql: str
    params: dict[str, str]


EXAMPLES = [
    Example("matches_mentioning", "Matches this week mentioning an entity (Bakanov)", """
SELECT e.published_at, e.seed, e.score, e.title, e.feed, e.url
FROM event_log e
WHERE e.published_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')
  AND e.article_id IN (
    SELECT article_id FROM mentions WHERE entity_id = :entity
      -- from the week's first article id on: ids grow as articles are stored, so this
      -- skips older mentions (id + 0: find it in articles_published, not by walking ids)
      AND article_id >= (SELECT min(id + 0) FROM articles
        WHERE published_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')))
ORDER BY e.score DESC
""".strip(), {"entity": "dmitry-bakanov"}),
    Example("officials_rising", "Officials whose mentions jumped this week", """
WITH counts AS (
  SELECT m.entity_id,
         sum(a.published_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')) AS this_week,
         sum(a.published_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')) AS last_week
  FROM entities o
  JOIN mentions m ON m.entity_id = o.id
    -- from the fortnight's first article id on: ids grow as articles are stored, so
    -- this skips older mentions (id + 0: find it in articles_published, not by walking ids)
    AND m.article_id >= (SELECT min(id + 0) FROM articles
      WHERE published_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-14 days'))
  JOIN articles a ON a.id = m.article_id
  WHERE o.kind = 'OFFICIAL'
    AND a.published_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-14 days')
  GROUP BY m.entity_id
)
SELECT en.name, en.id, c.this_week, c.last_week, c.this_week - c.last_week AS jump
FROM counts c JOIN entities en ON en.id = c.entity_id
WHERE c.this_week > c.last_week
ORDER BY jump DESC, en.name
LIMIT 20
""".strip(), {}),
    # Each feed that carried a story counts it (article_sources), under the feed's name; the
    # alias is not the name of any column (GROUP BY source would group by articles.source).
    Example("articles_per_source_per_day", "Articles per feed per day (last 30 days)", """
SELECT substr(a.published_at, 1, 10) AS day,
       -- the feed's name, or an import's source (read from the article only then)
       coalesce(f.name, (SELECT x.source FROM articles x WHERE x.id = a.id)) AS feed,
       count(DISTINCT a.id) AS articles
FROM articles a CROSS JOIN article_sources s ON s.article_id = a.id  -- recent first
LEFT JOIN feeds f ON f.id = s.feed_id
WHERE a.published_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-30 days')
GROUP BY day, feed
ORDER BY day DESC, articles DESC, feed
""".strip(), {}),
    Example("full_text_search", "Full-text search, latest stored first (deorbit)", """
SELECT a.id, a.published_at, a.title,
       snippet(articles_fts, 2, '[', ']', '…', 12) AS snippet
FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
WHERE articles_fts MATCH :q
ORDER BY articles_fts.rowid DESC
LIMIT 20
""".strip(), {"q": "deorbit"}),
    # An id or a name: NOCASE folds A-Z only, so a Cyrillic name must be typed as stored.
    Example("articles_naming_entity", "Articles naming an entity, newest first (Bakanov)", """
SELECT a.published_at, a.title, coalesce(f.name, a.source) AS feed, en.name AS entity,
       count(*) AS mentions,
       (SELECT group_concat(seed, ', ') FROM (SELECT l.seed FROM event_log l
        WHERE l.article_id = a.id ORDER BY l.seed)) AS seeds,
       a.url
FROM entities en
JOIN mentions m ON m.entity_id = en.id
JOIN articles a ON a.id = m.article_id
LEFT JOIN feeds f ON f.id = a.feed_id
WHERE en.id = :entity OR en.name = :entity COLLATE NOCASE
GROUP BY en.id, a.id
ORDER BY a.published_at DESC, a.id DESC
""".strip(), {"entity": "dmitry-bakanov"}),
    Example("feed_health", "Feed health: last fetch, outcome, failures in a row, articles", """
SELECT f.name AS feed, f.last_fetch_at, coalesce(f.last_outcome, 'never') AS outcome,
       f.last_error, f.error_count AS failures_in_a_row,
       (SELECT count(*) FROM article_sources s WHERE s.feed_id = f.id) AS articles,
       f.last_new_at,
       CASE WHEN f.disabled THEN 'disabled: ' || coalesce(f.disabled_reason,
                                                          'no reason recorded')
            WHEN f.enabled THEN 'on' ELSE 'off' END AS state,
       f.moved_to
FROM feeds f
ORDER BY f.disabled DESC, f.error_count DESC, f.name
""".strip(), {}),
]


class _Guard:
    """The authorizer: refuses every write, ATTACH/DETACH and every PRAGMA but the read-only
    ones, and remembers what it refused last (for the message)."""

    def __init__(self) -> None:
        self.refused: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None,
                 trigger: str | None) -> int:
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
            # FTS5's constructor declares its table this way when a query opens it; real
            # writes are still impossible (mode=ro, query_only).
            return sqlite3.SQLITE_OK
        if action in _DENIED:
            self.refused = _ACTION_NAMES.get(action, "a write")
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in INSPECT_PRAGMAS or (name in READ_PRAGMAS and arg2 is None):
                return sqlite3.SQLITE_OK
            self.refused = (f"PRAGMA {name} = {arg2}" if arg2 is not None and name in
                            READ_PRAGMAS else f"PRAGMA {name}")
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


def _connect(path: str | Path) -> tuple[sqlite3.Connection, _Guard]:
    path = Path(path)
    if not path.is_file():
        raise QueryError(f"{path}: no such database (run 'spacewatch fetch' or 'demo' first)")
    conn = open_readonly(path)
    guard = _Guard()
    conn.set_authorizer(guard)
    return conn, guard


class _Budget:
    """The time a query spends inside SQLite (not waiting for its reader: a CSV piped into
    ``less`` does not use it up), and the progress handler that stops it at the limit or
    when ``cancel`` is set."""

    def __init__(self, time_limit_ms: int | None, cancel: threading.Event | None) -> None:
        self.limit_ms = time_limit_ms or None
        self.cancel = cancel
        self.spent = 0.0
        self.started: float | None = None

    def __enter__(self) -> None:
        self.started = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        if self.started is not None:
            self.spent += time.monotonic() - self.started
        self.started = None

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def used_up(self) -> bool:
        if self.limit_ms is None:
            return False
        running = time.monotonic() - self.started if self.started is not None else 0.0
        return (self.spent + running) * 1000 >= self.limit_ms

    def progress(self) -> int:
        """SQLite's progress handler: non-zero interrupts the statement."""
        return int(self.cancelled() or self.used_up())


class QueryRows:
    """The columns of a running query and an iterator over its rows, read in batches as
    they are consumed (nothing is fetched ahead)."""

    def __init__(self, path: Path, cursor: sqlite3.Cursor, budget: _Budget,
                 guard: _Guard) -> None:
        self.path = path
        self.columns = [d[0] for d in cursor.description or []]
        self._cursor = cursor
        self._budget = budget
        self._guard = guard

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while True:
            if self._budget.cancelled():
                raise QueryCancelled("query stopped (Ctrl-C)")
            try:
                with self._budget:
                    batch = self._cursor.fetchmany(FETCH_BATCH)
            except sqlite3.Error as exc:
                raise _query_error(exc, self.path, self._budget, self._guard) from None
            if not batch:
                return
            yield from batch


@contextmanager
def open_query(path: str | Path, sql: str, params: dict[str, Any] | None = None, *,
               time_limit_ms: int | None = None,
               cancel: threading.Event | None = None) -> Iterator[QueryRows]:
    """Start one read-only statement; yield its columns and rows, closing it afterwards.

    ``time_limit_ms`` bounds the time spent inside SQLite (None or 0: no limit); setting
    ``cancel`` (from a SIGINT handler, say) stops the statement at its next progress check.
    Either ends in :class:`QueryTimeLimit` or :class:`QueryCancelled`.
    """
    path = Path(path)
    conn, guard = _connect(path)
    budget = _Budget(time_limit_ms, cancel)
    try:
        _check_read_only(conn, sql, path, guard)
        if budget.limit_ms is not None or cancel is not None:
            conn.set_progress_handler(budget.progress, PROGRESS_STEPS)
        try:
            with budget:
                cursor = conn.execute(sql, params or {})
        except sqlite3.Error as exc:
            raise _query_error(exc, path, budget, guard) from None
        yield QueryRows(path, cursor, budget, guard)
    finally:
        conn.close()


def run_query(path: str | Path, sql: str, params: dict[str, Any] | None = None,
              limit: int | None = None, *, time_limit_ms: int | None = None,
              cancel: threading.Event | None = None
              ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; return column names and (the first ``limit``) rows."""
    with open_query(path, sql, params, time_limit_ms=time_limit_ms, cancel=cancel) as result:
        rows = list(itertools.islice(result, limit) if limit else result)
        return result.columns, rows


def _check_read_only(conn: sqlite3.Connection, sql: str, path: Path, guard: _Guard) -> None:
    """Only statements that start with SELECT, WITH, VALUES, EXPLAIN or PRAGMA run at all.

    Anything else is compiled with EXPLAIN in front (which never runs it) so that a typo
    ("SELEC") is reported as the syntax error it is, not as a refused write.
    """
    if _ALLOWED_START.match(sql):
        return
    if not sql.strip() or not re.sub(r"--[^\n]*|/\*.*?\*/", "", sql, flags=re.S).strip():
        raise QueryError("no SQL given")
    try:
        conn.execute("EXPLAIN " + sql).close()
    except sqlite3.Error as exc:
        error = _query_error(exc, path, None, guard)
        if str(error).startswith("syntax error"):
            raise error from None
    raise QueryError("only read-only queries are allowed (SELECT, WITH, VALUES, EXPLAIN, "
                     "PRAGMA): 'spacewatch query' never changes the log")


def _query_error(exc: sqlite3.Error, path: Path, budget: _Budget | None,
                 guard: _Guard) -> SpaceWatchError:
    """One clear line for what went wrong, in the user's terms."""
    message = str(exc)
    if is_damaged(exc):
        return StoreError(damaged_db_message(path))
    if "interrupted" in message and budget is not None:
        if budget.cancelled():
            return QueryCancelled("query stopped (Ctrl-C)")
        if budget.used_up():
            return QueryTimeLimit(f"query interrupted after {budget.limit_ms} ms "
                                  "(raise --time-limit, or 0 for none)")
    syntax = re.search(r'near "(.*)": syntax error', message, re.S)
    if syntax:
        return QueryError(f'syntax error near "{syntax.group(1)}"')
    if "incomplete input" in message:
        return QueryError("syntax error: incomplete input (the SQL ends too early)")
    if "fts5: syntax error" in message:
        return QueryError(f"full-text search {message.removeprefix('fts5: ')}")
    if "not authorized" in message:
        what = guard.refused or "a statement that is not read-only"
        return QueryError(f"refused: {what} — 'spacewatch query' is read-only")
    if "readonly" in message or "query_only" in message:
        return QueryError(f"refused: {message} — 'spacewatch query' is read-only")
    return QueryError(f"SQL error: {message}")


# -- full-text search ----------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    """One article found by :func:`search_articles`. ``snippet`` marks the matched words
    with :data:`HIT_START` … :data:`HIT_END`."""

    id: int
    published_at: str
    feed: str
    title: str
    snippet: str


HIT_START, HIT_END = "\x02", "\x03"


def fts_query(terms: str) -> str:
    """Words as typed, made safe for FTS5 MATCH: each whitespace-separated term becomes a
    quoted string (``"`` doubled), so ``cross-flight`` is the phrase "cross flight" rather
    than FTS5's syntax for "cross, but not the column flight"; the terms must all occur.
    A query with Russian words also looks for their lemmas in the ``lemmas`` column."""
    words = terms.split()
    if not words:
        raise QueryError("nothing to search for (give one or more words)")
    query = " ".join(_quoted(word) for word in words)
    if not any(is_cyrillic(word) for word in words):
        return query
    # Russian words also as lemmas, in the column of a Russian article's lemmas: «Роскосмоса»
    # finds «Роскосмос», «Роскосмосу»... (every word must still occur, in one form or another).
    lemma_text = get_lemmatizer().lemma_text
    lemmas = " ".join(_quoted(lemma_text(word) or word) for word in words)
    return f"({query}) OR (lemmas : ({lemmas}))"


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


SEARCH_SQL = f"""
SELECT a.id, a.published_at,
       (SELECT group_concat(coalesce(f.name, a.source), ', ') FROM article_sources s
        LEFT JOIN feeds f ON f.id = s.feed_id WHERE s.article_id = a.id) AS feed,
       a.title, snippet(articles_fts, -1, '{HIT_START}', '{HIT_END}', '…', 16) AS snippet,
       snippet(articles_fts, 3, '{HIT_START}', '{HIT_END}', '…', 16) AS lemma_snippet,
       snippet(articles_fts, 2, '{HIT_START}', '{HIT_END}', '…', 16) AS text_snippet
FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
WHERE articles_fts MATCH :q
ORDER BY a.published_at DESC, a.id DESC
LIMIT :limit
"""


def search_articles(path: str | Path, terms: str, *, raw: bool = False, limit: int = 20,
                    time_limit_ms: int | None = None,
                    cancel: threading.Event | None = None) -> list[SearchHit]:
    """Articles whose title, summary or text hold every term, newest first.

    ``raw`` passes ``terms`` to FTS5 as its query syntax (``NEAR(…)``, ``OR``, ``prefix*``).
    """
    match = terms.strip() if raw else fts_query(terms)
    if not match:
        raise QueryError("nothing to search for (give one or more words)")
    try:
        with open_query(path, SEARCH_SQL, {"q": match, "limit": limit},
                        time_limit_ms=time_limit_ms, cancel=cancel) as rows:
            # A hit found through the lemmas shows the article's own words, not its lemmas.
            return [SearchHit(id=r[0], published_at=r[1], feed=r[2] or "", title=r[3],
                              snippet=(r[6] if r[4] == r[5] and HIT_START in r[5] else r[4])
                              or "") for r in rows]
    except QueryError as exc:
        if raw and "no such column" in str(exc):  # cross-flight read as "cross NOT flight"
            column = str(exc).rsplit(":", 1)[-1].strip()
            raise QueryError(f"full-text search: no column {column!r} (in FTS5 syntax "
                             "'-' and ':' name columns: quote such words, or drop --raw)"
                             ) from None
        raise
