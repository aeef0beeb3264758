"""Reading never needs write access: ``query``, ``search``, ``status`` and ``digest`` work on a
database on a read-only file system, change nothing in the file, refuse an older schema with a
clear line, and a damaged file is one line naming it and how to recover."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import Feed
from pipeline.errors import StoreError
from pipeline.records import Article, FetchRecord
from pipeline.store import Store, open_readonly


def make_db(path: Path) -> Path:
    """A small database in WAL mode, closed cleanly (no -wal or -shm file beside it)."""
    with Store(path) as store:
        store.sync_feeds([Feed(name="wire", url="http://127.0.0.1:9/feed.xml")], False,
                         "2025-07-15T09:00:00Z")
        feed_id = store.feed_row("wire").id
        store.record_fetch(feed_id, FetchRecord(started_at="2025-07-15T09:00:00Z", outcome="ok"),
                           None,
                           [Article(guid=f"g{i}", url=None, title=f"Cross-flight talks {i}",
                                    summary="NASA and Roscosmos discussed cross-flight seats.",
                                    published_at="2025-07-15T10:00:00Z",
                                    published_estimated=False, content_hash=f"h{i}")
                            for i in range(3)], fetched_at="2025-07-15T10:00:00Z")
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    return path


def spacewatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", "--config",
                           str(cwd / "none.yaml"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def can_mount_read_only(folder: Path) -> str | None:
    """None when this process may mount a read-only tmpfs in a private mount namespace;
    otherwise why not."""
    if shutil.which("unshare") is None:
        return "no unshare(1)"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            f"mount -t tmpfs none '{folder}' && "
                            f"mount -o remount,ro '{folder}'"],
                           capture_output=True, text=True, timeout=60)
    return None if probe.returncode == 0 else f"cannot mount here: {probe.stderr.strip()}"


def test_query_search_status_digest_work_on_a_read_only_file_system(tmp_path: Path) -> None:
    """A real read-only file system: a tmpfs remounted read-only in a private mount namespace
    (the mount vanishes with the shell), so SQLite cannot create the WAL's -shm file."""
    db = make_db(tmp_path / "t.db")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    reason = can_mount_read_only(mnt)
    if reason:
        pytest.skip(reason)
    commands = {
        "query": ["query", "SELECT count(*) AS n FROM articles", "--format", "csv"],
        "search": ["search", "cross-flight"],
        "status": ["status"],
        "digest": ["digest", "--date", "2025-07-15", "--format", "json"],
    }
    lines = [f"mount -t tmpfs none '{mnt}'", f"cp '{db}' '{mnt}/t.db'",
             f"mount -o remount,ro '{mnt}'",
             f"touch '{mnt}/probe' 2>/dev/null && echo WRITABLE > '{tmp_path}/writable'"]
    for name, args in commands.items():
        quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
        lines.append(f"'{sys.executable}' -m pipeline --config '{tmp_path}/none.yaml' "
                     f"--db '{mnt}/t.db' {quoted} > '{tmp_path}/{name}.out' "
                     f"2> '{tmp_path}/{name}.err'; echo $? > '{tmp_path}/{name}.rc'")
    lines.append(f"ls -a '{mnt}' > '{tmp_path}/listing'")
    subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    " && ".join(lines[:3]) + "; " + "; ".join(lines[3:])],
                   cwd=tmp_path, check=True, timeout=300)
    assert not (tmp_path / "writable").exists(), "the file system was not read-only"
    results = {name: ((tmp_path / f"{name}.rc").read_text().strip(),
                      (tmp_path / f"{name}.out").read_text(),
                      (tmp_path / f"{name}.err").read_text()) for name in commands}
    for name, (rc, _out, err) in results.items():
        assert rc == "0", f"{name} failed on a read-only file system: {err}"
    assert results["query"][1].splitlines() == ["n", "3"]
    assert all(f"Cross-flight talks {i}" in results["search"][1] for i in range(3))
    assert "wire" in results["status"][1]
    assert json.loads(results["digest"][1])
    assert (tmp_path / "listing").read_text().split() == [".", "..", "t.db"]


def test_read_only_open_falls_back_to_immutable_when_the_shm_cannot_be_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where mounting is not allowed: SQLite's own failure on a read-only folder (it cannot
    create the -shm file of a WAL database) is reproduced for every non-immutable open."""
    db = make_db(tmp_path / "t.db")
    real_connect = sqlite3.connect
    opened: list[str] = []

    def connect(database: str, *args: object, **kwargs: object) -> sqlite3.Connection:
        opened.append(str(database))
        if "immutable=1" not in str(database):
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(database, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", connect)
    conn = open_readonly(db)
    try:
        assert conn.execute("SELECT count(*) FROM articles").fetchone() == (3,)
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("DELETE FROM articles")
    finally:
        conn.close()
    assert "mode=ro" in opened[0] and "immutable=1" in opened[-1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_status_and_digest_leave_the_database_file_untouched(tmp_path: Path) -> None:
    """A read-only open: no migration, no switch to WAL (this file uses a rollback journal)."""
    db = make_db(tmp_path / "t.db")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    before = sha256(db)
    runner = CliRunner()
    for args in (["status"], ["digest", "--date", "2025-07-15"]):
        result = runner.invoke(cli, ["--db", str(db), "--config", str(tmp_path / "none.yaml"),
                                     *args])
        assert result.exit_code == 0, result.output
    assert sha256(db) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_read_only_store_refuses_an_older_schema_with_a_clear_line(tmp_path: Path) -> None:
    db = make_db(tmp_path / "t.db")
    with sqlite3.connect(db) as conn:
        last = conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id DESC").fetchone()
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", last)
    with pytest.raises(StoreError, match=r"older .*spacewatch init") as raised:
        Store(db, readonly=True)
    assert last[0] in str(raised.value)
    result = spacewatch("--db", str(db), "status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "spacewatch init" in result.stderr


@pytest.mark.parametrize("args", [["query", "SELECT 1 FROM articles"], ["search", "iss"],
                                  ["serve"]], ids=lambda a: a[0])
def test_a_damaged_database_file_is_one_line_naming_it_and_the_recovery(
        tmp_path: Path, args: list[str]) -> None:
    if args[0] == "serve":
        pytest.importorskip("datasette", reason="Datasette is the optional 'serve' extra")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args = [*args, "--port", str(probe.getsockname()[1])]
    db = tmp_path / "broken.db"
    db.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(4096)))
    result = spacewatch("--db", str(db), *args, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert str(db) in result.stderr and "damaged" in result.stderr
    assert ".recover" in result.stderr
    assert "Traceback" not in result.stderr and "http://" not in result.stdout
