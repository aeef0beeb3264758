"""Ad-hoc, read-only SQL over the event log, and the example questions it answers.

Three locks keep ``spacewatch query`` from changing anything, even by mistake: the database
is opened with ``mode=ro``, ``PRAGMA query_only`` is on, and an authorizer refuses every
write, ``ATTACH``/``DETACH`` (which would create files) and every PRAGMA but a read-only few.
Only statements that start with SELECT, WITH, VALUES, EXPLAIN or PRAGMA are run at all (so
``VACUUM INTO`` cannot copy the database out).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import QueryError

#: PRAGMAs that only read, whatever their argument (a table or index name).
INSPECT_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info",
                             "index_xinfo", "foreign_key_list", "table_list"})
#: PRAGMAs that read without an argument but would write with one (user_version = 7).
READ_PRAGMAS = frozenset({"database_list", "compile_options", "collation_list",
                          "function_list", "pragma_list", "table_list", "user_version",
                          "schema_version", "page_count", "page_size", "freelist_count",
                          "journal_mode", "encoding", "data_version"})
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
  AND e.article_id IN (SELECT article_id FROM mentions WHERE entity_id = :entity)
ORDER BY e.score DESC
""".strip(), {"entity": "dmitry-bakanov"}),
    Example("officials_rising", "Officials whose mentions jumped this week", """
WITH counts AS (
  SELECT m.entity_id,
         sum(a.published_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')) AS this_week,
         sum(a.published_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')) AS last_week
  FROM articles a CROSS JOIN mentions m ON m.article_id = a.id  -- recent articles first
  WHERE a.published_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-14 days')
  GROUP BY m.entity_id
)
SELECT en.name, en.id, c.this_week, c.last_week, c.this_week - c.last_week AS jump
FROM counts c JOIN entities en ON en.id = c.entity_id
WHERE en.kind = 'OFFICIAL' AND c.this_week > c.last_week
ORDER BY jump DESC, en.name
LIMIT 20
""".strip(), {}),
    Example("articles_per_source_per_day", "Articles per source per day (last 30 days)", """
SELECT substr(a.published_at, 1, 10) AS day, coalesce(f.name, a.source) AS source,
       count(*) AS articles
FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
WHERE a.published_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-30 days')
GROUP BY day, source
ORDER BY day DESC, articles DESC
""".strip(), {}),
    Example("full_text_search", "Full-text search, latest stored first (deorbit)", """
SELECT a.id, a.published_at, a.title,
       snippet(articles_fts, 2, '[', ']', '…', 12) AS snippet
FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
WHERE articles_fts MATCH :q
ORDER BY articles_fts.rowid DESC
LIMIT 20
""".strip(), {"q": "deorbit"}),
]


def _authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None,
                trigger: str | None) -> int:
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        # FTS5's constructor declares its table this way when a query opens it; real writes
        # are still impossible (mode=ro, query_only).
        return sqlite3.SQLITE_OK
    if action in _DENIED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in INSPECT_PRAGMAS or (name in READ_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A connection that cannot change the database or create files."""
    path = Path(path)
    if not path.is_file():
        raise QueryError(f"{path}: no such database (run 'spacewatch fetch' or 'demo' first)")
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=10)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise QueryError(f"{path}: cannot open read-only: {exc}") from None
    conn.set_authorizer(_authorizer)
    return conn


def run_query(path: str | Path, sql: str, params: dict[str, Any] | None = None,
              limit: int | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; return column names and rows."""
    if not _ALLOWED_START.match(sql):
        raise QueryError("only read-only queries are allowed (SELECT, WITH, VALUES, EXPLAIN, "
                         "PRAGMA): 'spacewatch query' never changes the log")
    conn = connect_readonly(path)
    try:
        cursor = conn.execute(sql, params or {})
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
        return columns, rows
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "not authorized" in message or "readonly" in message or "query_only" in message:
            raise QueryError(f"refused: {message} — 'spacewatch query' is read-only") from None
        raise QueryError(f"SQL error: {message}") from None
    except sqlite3.Warning as exc:
        raise QueryError(f"SQL error: {exc}") from None
    except sqlite3.ProgrammingError as exc:
        raise QueryError(f"SQL error: {exc}") from None
    finally:
        conn.close()
