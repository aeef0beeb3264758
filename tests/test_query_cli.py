"""``spacewatch query`` as a user meets it: a runaway query stops at its time limit or on
Ctrl-C, a table is capped with a note, SQL comes from a file or stdin, bad SQL is a syntax
error (not a refused write), and read-only PRAGMAs run while PRAGMA writes are refused."""

from __future__ import annotations

import hashlib
import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import QueryError, QueryTimeLimit
from pipeline.query import open_query, run_query
from pipeline.records import Article
from pipeline.store import Store

#: Never ends on its own: one row, after counting forever.
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
#: Never ends on its own: rows forever.
ENDLESS_ROWS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"


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


def spacewatch(db: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", "--db", str(db), *args],
                          capture_output=True, text=True, timeout=timeout)


def invoke(db: Path, *args: str, stdin: str | None = None):  # noqa: ANN201 - click Result
    return CliRunner().invoke(cli, ["--db", str(db), *args], input=stdin)


# -- time limit and Ctrl-C -----------------------------------------------------------------


def test_a_runaway_query_stops_at_its_time_limit(db: Path) -> None:
    with pytest.raises(QueryTimeLimit, match=r"query interrupted after 200 ms \(raise "
                                             r"--time-limit"):
        run_query(db, RUNAWAY, time_limit_ms=200)


def test_the_command_has_a_default_time_limit_and_a_flag_to_change_it(db: Path) -> None:
    result = spacewatch(db, "query", RUNAWAY)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: query interrupted after 1000 ms (raise --time-limit, or 0 for none)"]
    result = spacewatch(db, "query", RUNAWAY, "--time-limit", "300")
    assert "query interrupted after 300 ms" in result.stderr


def test_ctrl_c_stops_a_running_query_at_once(db: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "--db", str(db), "query",
                             RUNAWAY, "--time-limit", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        watched = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        # Past start-up (well under 1.5 s of CPU): the process is inside the query.
        while watched.cpu_times().user < 1.5 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130
        assert err.strip().splitlines() == ["query stopped (Ctrl-C)"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).status() == \
        psutil.STATUS_ZOMBIE


# -- row limit -----------------------------------------------------------------------------


def test_rows_are_read_as_they_are_used_not_all_at_once(db: Path) -> None:
    with open_query(db, ENDLESS_ROWS) as result:  # no time limit: only laziness ends this
        assert list(itertools.islice(result, 5)) == [(1,), (2,), (3,), (4,), (5,)]


def test_a_table_is_capped_with_a_note_and_csv_is_not(db: Path) -> None:
    many = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1500) "
            "SELECT x FROM c")
    table = invoke(db, "query", many)
    assert table.exit_code == 0, table.output
    assert "showing 1000 of 1500 rows (--limit)" in table.stderr
    assert "1000" in table.stdout and "1001" not in table.stdout
    csv_out = invoke(db, "query", many, "--format", "csv")
    assert csv_out.stdout.splitlines()[-1] == "1500" and "showing" not in csv_out.stderr
    capped = invoke(db, "query", "SELECT title FROM articles ORDER BY id", "--limit", "2",
                    "--format", "json")
    assert capped.stdout.count('"title"') == 2
    assert "showing 2 of 3 rows (--limit)" in capped.stderr


def test_an_endless_result_shows_the_first_rows_and_says_there_were_more(db: Path) -> None:
    result = spacewatch(db, "query", ENDLESS_ROWS, "--limit", "10", "--time-limit", "300")
    assert result.returncode == 0, result.stderr
    assert "showing 10 of more than" in result.stderr


# -- SQL from a file or stdin --------------------------------------------------------------


def test_sql_from_a_file_or_stdin(db: Path, tmp_path: Path) -> None:
    sql_file = tmp_path / "q.sql"
    sql_file.write_text("-- how many?\nSELECT count(*) AS n FROM articles;\n", encoding="utf-8")
    for args, stdin in ((["-f", str(sql_file)], None), (["-"], sql_file.read_text()),
                        (["-f", "-"], sql_file.read_text())):
        result = invoke(db, "query", *args, "--format", "csv", stdin=stdin)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == ["n", "3"]


@pytest.mark.parametrize("args, message", [
    (["-f", "missing.sql"], "missing.sql: no such file"),
    (["SELECT 1", "-f", "x.sql"], "not both"),
    ([], "no SQL given"),
])
def test_a_missing_sql_source_is_a_clear_error(db: Path, args: list[str], message: str) -> None:
    result = invoke(db, "query", *args)
    assert result.exit_code != 0 and message in str(result.exception)


# -- errors and PRAGMAs --------------------------------------------------------------------


@pytest.mark.parametrize("sql, near", [("SELEC * FROM articles", "SELEC"),
                                       ("SELECT * FRM articles", "FRM"),
                                       ("DELET FROM articles", "DELET"),
                                       ("PRAGM integrity_check", "PRAGM")])
def test_bad_sql_is_a_syntax_error_not_a_refused_write(db: Path, sql: str, near: str) -> None:
    with pytest.raises(QueryError) as raised:
        run_query(db, sql)
    assert str(raised.value) == f'syntax error near "{near}"'


def test_incomplete_sql_and_writes_keep_their_own_messages(db: Path) -> None:
    with pytest.raises(QueryError, match="syntax error: incomplete input"):
        run_query(db, "SELECT * FROM articles WHERE")
    with pytest.raises(QueryError, match="only read-only queries are allowed"):
        run_query(db, "DELETE FROM articles")
    with pytest.raises(QueryError, match=r"refused: PRAGMA journal_mode = DELETE"):
        run_query(db, "PRAGMA journal_mode = DELETE")


@pytest.mark.parametrize("sql, expected", [
    ("PRAGMA integrity_check", [("ok",)]),
    ("PRAGMA quick_check", [("ok",)]),
    ("PRAGMA integrity_check(articles)", [("ok",)]),
    ("PRAGMA foreign_key_check", []),
    ("PRAGMA journal_mode", [("wal",)]),
    ("SELECT count(*) > 10 FROM pragma_table_info('articles')", [(1,)]),
])
def test_read_only_pragmas_run(db: Path, sql: str, expected: list[tuple]) -> None:
    assert run_query(db, sql)[1] == expected


def test_index_list_and_table_info_name_their_table(db: Path) -> None:
    assert any(r[1] == "title" for r in run_query(db, "PRAGMA table_info(articles)")[1])
    assert any(r[1] == "articles_published"
               for r in run_query(db, "PRAGMA index_list(articles)")[1])


@pytest.mark.parametrize("sql", ["PRAGMA user_version = 7", "PRAGMA optimize",
                                 "PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA foreign_keys = OFF",
                                 "PRAGMA schema.journal_mode = DELETE"])
def test_pragma_writes_are_refused_and_nothing_changes(db: Path, sql: str) -> None:
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with pytest.raises(QueryError, match="refused|syntax error|unknown database"):
        run_query(db, sql)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
