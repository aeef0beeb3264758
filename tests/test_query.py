"""``spacewatch query``: read-only, whatever the SQL tries; named parameters; formats;
the README's example questions run and use indexes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import QueryError
from pipeline.query import EXAMPLES, run_query
from pipeline.records import Article
from pipeline.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "q.db"
    with Store(path) as store:
        store.save_articles([Article(guid=f"g{i}", url=None, title=f"Deorbit plan {i}",
                                     summary="NASA described the ISS deorbit timeline.",
                                     published_at="2025-07-15T10:00:00Z",
                                     published_estimated=False, content_hash=f"h{i}")
                             for i in range(3)], "2025-07-15T10:00:00Z")
    return path


@pytest.mark.parametrize("sql", [
    "DELETE FROM articles",
    "UPDATE articles SET title = 'x'",
    "INSERT INTO meta(key) VALUES ('x')",
    "DROP TABLE articles",
    "ATTACH DATABASE '{tmp}/evil.db' AS evil",
    "VACUUM INTO '{tmp}/copy.db'",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA user_version = 7",
    "WITH x AS (SELECT 1) DELETE FROM articles",
    "SELECT 1; DELETE FROM articles",
    "CREATE TEMP TABLE t(a)",
])
@pytest.mark.fault
def test_writes_are_refused_and_nothing_changes(db: Path, sql: str) -> None:
    tmp = db.parent
    with pytest.raises(QueryError):
        run_query(db, sql.format(tmp=tmp))
    assert not (tmp / "evil.db").exists() and not (tmp / "copy.db").exists()
    assert run_query(db, "SELECT count(*) FROM articles")[1] == [(3,)]


def test_named_parameters_and_formats(db: Path) -> None:
    runner = CliRunner()
    args = ["--db", str(db), "query", "SELECT title FROM articles WHERE title = :t", "-p", "t",
            "Deorbit plan 1"]
    assert "Deorbit plan 1" in runner.invoke(cli, args).stdout
    csv_out = runner.invoke(cli, [*args, "--format", "csv"]).stdout
    assert csv_out.splitlines() == ["title", "Deorbit plan 1"]
    json_out = runner.invoke(cli, [*args, "--format", "json"]).stdout
    assert '"title": "Deorbit plan 1"' in json_out


def test_bad_sql_is_a_clear_error(db: Path) -> None:
    with pytest.raises(QueryError, match="syntax error"):
        run_query(db, "SELECT * FRM articles")
    with pytest.raises(QueryError, match="no such table"):
        run_query(db, "SELECT * FROM nope")
    with pytest.raises(QueryError, match="no such database"):
        run_query(db.parent / "missing.db", "SELECT 1")


def test_read_only_pragmas_are_allowed(db: Path) -> None:
    columns, rows = run_query(db, "PRAGMA table_info(articles)")
    assert "name" in columns and any(r[1] == "title" for r in rows)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_readme_examples_run_and_are_in_the_readme(db: Path, example) -> None:
    run_query(db, example.sql, example.params)
    readme = (ROOT / "README.md").read_text()
    assert example.sql in readme, f"README lacks the SQL of {example.name}"


def test_full_text_search_finds_deorbit(db: Path) -> None:
    fts = next(e for e in EXAMPLES if e.name == "full_text_search")
    _cols, rows = run_query(db, fts.sql, {"q": "deorbit"})
    assert len(rows) == 3 and re.search(r"\[deorbit\]", rows[0][3], re.I)


def test_fts_stays_in_sync_with_updates(db: Path) -> None:
    with Store(db) as store, store.transaction() as conn:
        conn.execute("UPDATE articles SET text = 'cosmonaut seat swap' WHERE guid = 'g0'")
    _c, rows = run_query(db, "SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'swap'")
    assert len(rows) == 1
