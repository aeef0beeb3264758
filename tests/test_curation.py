"""Curation (issue 13.8): `spacewatch entities merge/ban/promote` write the gazetteer overlay,
stored mentions follow at `reprocess`, and a running daemon reloads the overlay by itself."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from pipeline.cli import cli
from pipeline.daemon import Daemon, DaemonOptions
from pipeline.gazetteer import load_gazetteer

from .httpserver import LocalServer, Reply, rss
from .processes import wait_for

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_roscosmos_chief_visits_nasa.md"
ARTICLES = [
    {"id": "a1", "title": "Bakanov and Duffy keep the cross-flight program",
     "published": "2025-07-16T09:00:00Z",
     "text": "Roscosmos chief Dmitry Bakanov met Acting NASA Administrator Sean Duffy to "
             "discuss the cross-flight program, the seat swap and the ISS extension. "
             "Orbital Dynamics will supply parts for the deorbit vehicle. Selin Aydin, a "
             "mission specialist, said the integrated crew plan is ready."},
    {"id": "a2", "title": "Station plans", "published": "2025-07-17T09:00:00Z",
     "text": "NASA and Roscosmos discussed the station. Selin Aydin told reporters the "
             "plan is ready. Orbital Dynamics built the docking adapter."},
]

Run = Callable[..., Result]


def project(tmp_path: Path, *, seeds: bool = True) -> Run:
    """A feeds.yaml (the overlay beside it), a seed, and the CLI on a database there."""
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    (tmp_path / "seeds").mkdir()
    if seeds:
        shutil.copy(SEED, tmp_path / "seeds")

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "--config",
                                        str(tmp_path / "feeds.yaml"), *args], input=input)
    return run


def imported(tmp_path: Path, **kw: bool) -> Run:
    run = project(tmp_path, **kw)
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(a) for a in ARTICLES) + "\n")
    result = run("import", str(tmp_path / "a.jsonl"))
    assert result.exit_code == 0, result.output
    return run


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def stored_ids(tmp_path: Path) -> set[str]:
    return {str(r[0]) for r in rows(tmp_path / "t.db", "SELECT DISTINCT entity_id FROM mentions")}


def listed(run: Run) -> str:
    result = run("entities", "--limit", "100")
    assert result.exit_code == 0, result.output
    return result.output


def test_merge_relinks_stored_mentions_at_reprocess_and_leaves_the_event_log_alone(
        tmp_path: Path) -> None:
    run = imported(tmp_path)
    db = tmp_path / "t.db"
    events = rows(db, "SELECT * FROM matches ORDER BY id")
    assert events, "the article should match the seed: the event log check needs an event"
    assert "org:orbital-dynamics" in listed(run)

    merged = run("entities", "merge", "org:orbital-dynamics", "nasa")
    assert merged.exit_code == 0, merged.output
    assert "spacewatch reprocess" in merged.output
    assert yaml.safe_load((tmp_path / "gazetteer.local.yaml").read_text())["merge"] == {
        "org:orbital-dynamics": "nasa"}
    assert "org:orbital-dynamics" in stored_ids(tmp_path)  # nothing moves before reprocess

    assert run("reprocess").exit_code == 0
    assert "org:orbital-dynamics" not in stored_ids(tmp_path)
    assert "org:orbital-dynamics" not in listed(run)
    assert ("nasa", "Orbital Dynamics") in rows(db, "SELECT entity_id, surface FROM mentions")
    after = rows(db, "SELECT * FROM matches ORDER BY id")
    assert after[:len(events)] == events  # append-only: no event updated or deleted


def test_ban_drops_an_id_and_a_text_from_new_analyses_and_from_stored_ones(
        tmp_path: Path) -> None:
    run = imported(tmp_path, seeds=False)
    assert {"person:selin-aydin", "org:orbital-dynamics"} <= stored_ids(tmp_path)
    assert run("entities", "ban", "person:selin-aydin").exit_code == 0
    surface = run("entities", "ban", "--surface", "Orbital Dynamics")
    assert surface.exit_code == 0, surface.output
    assert yaml.safe_load((tmp_path / "gazetteer.local.yaml").read_text())["ban"] == {
        "ids": ["person:selin-aydin"], "surfaces": ["Orbital Dynamics"]}

    result = run("analyze", input="Selin Aydin said Orbital Dynamics and NASA signed a deal.")
    assert result.exit_code == 0, result.output
    found = {e["id"] for e in json.loads(result.output.splitlines()[-1])["entities"]}
    assert found == {"nasa"}
    assert run("reprocess").exit_code == 0
    assert stored_ids(tmp_path).isdisjoint({"person:selin-aydin", "org:orbital-dynamics"})


def test_promote_writes_a_valid_overlay_entity_that_links_with_its_aliases_and_kind(
        tmp_path: Path) -> None:
    run = imported(tmp_path, seeds=False)
    promoted = run("entities", "promote", "person:selin-aydin", "--kind", "CREW",
                   "--alias", "Selin A. Aydin")
    assert promoted.exit_code == 0, promoted.output
    assert "promoted person:selin-aydin to selin-aydin" in promoted.output
    overlay = tmp_path / "gazetteer.local.yaml"
    gazetteer = load_gazetteer(None, overlay)  # valid by the gazetteer's own rules
    entry = gazetteer.entries["selin-aydin"]
    assert (entry.name, entry.kind) == ("Selin Aydin", "CREW")
    assert {"Selin Aydin", "Selin A. Aydin"} <= set(entry.aliases)
    assert "Aydin" not in entry.aliases  # a bare surname is never an alias
    assert gazetteer.merges == {"person:selin-aydin": "selin-aydin"}

    result = run("analyze", input="Astronaut Selin A. Aydin will fly on the next Soyuz.")
    assert result.exit_code == 0, result.output
    entities = json.loads(result.output.splitlines()[-1])["entities"]
    assert {(e["id"], e["kind"], e["surface"]) for e in entities} >= {
        ("selin-aydin", "CREW", "Selin A. Aydin")}
    assert run("reprocess").exit_code == 0
    assert "person:selin-aydin" not in stored_ids(tmp_path)
    assert "selin-aydin" in stored_ids(tmp_path)


def spacewatch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, where an error becomes one line and exit code 2."""
    return subprocess.run([sys.executable, "-m", "pipeline", "--db", str(tmp_path / "t.db"),
                           "--config", str(tmp_path / "feeds.yaml"), *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_a_bad_overlay_edit_is_one_clear_line_and_the_old_overlay_is_kept(
        tmp_path: Path) -> None:
    project(tmp_path)
    overlay = tmp_path / "gazetteer.local.yaml"
    assert spacewatch(tmp_path, "entities", "merge", "jaxa", "nasa").returncode == 0
    good = overlay.read_bytes()

    cycle = spacewatch(tmp_path, "entities", "merge", "nasa", "jaxa")
    assert cycle.returncode == 2
    assert cycle.stderr.strip().count("\n") == 0 and cycle.stdout == ""
    assert "jaxa -> nasa -> jaxa is a cycle" in cycle.stderr
    assert "nothing was written" in cycle.stderr
    assert overlay.read_bytes() == good

    unknown = spacewatch(tmp_path, "entities", "ban", "org:no-such-thing")
    assert unknown.returncode == 2
    assert "unknown entity id 'org:no-such-thing'" in unknown.stderr
    assert overlay.read_bytes() == good

    overlay.write_text(good.decode() + "entities:\n  - {id: x, name: X Corp, kind: CORP}\n")
    broken = overlay.read_bytes()
    refused = spacewatch(tmp_path, "entities", "ban", "nasa")
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "Traceback" not in refused.stderr
    assert "kind 'CORP' is not one of" in refused.stderr
    assert "fix the overlay first" in refused.stderr
    assert overlay.read_bytes() == broken



def item(n: int, text: str) -> dict[str, str]:
    return {"title": f"Crew news {n}", "link": f"http://news.example.invalid/c/{n}",
            "guid": f"c-{n}", "description": text, "pubDate": "Tue, 15 Jul 2025 09:30:00 GMT"}


def test_the_daemon_picks_up_an_overlay_edit_without_a_restart(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="spacewatch.daemon")
    first = item(1, "Selin Aydin, a mission specialist, said the crew is ready.")
    second = item(2, "Astronaut Selin A. Aydin will fly on the next Soyuz.")
    db = tmp_path / "d.db"
    overlay = tmp_path / "gazetteer.local.yaml"

    def mentions(entity_id: str) -> int:
        if not db.exists():
            return 0
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM mentions WHERE entity_id = ?",
                                        (entity_id,)).fetchone()[0])
            except sqlite3.OperationalError:  # the schema is being created
                return 0

    with LocalServer() as server:
        url = server.route("/c.xml", Reply(rss([first])))
        (tmp_path / "feeds.yaml").write_text(
            "settings: {jitter: 0.1s, timeout_total: 10s, full_text: false}\n"
            f"feeds:\n  - {{name: c, url: '{url}', interval: 1s}}\n")
        (tmp_path / "seeds").mkdir()
        daemon = Daemon(DaemonOptions(tmp_path / "feeds.yaml", db))
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        try:
            assert wait_for(lambda: mentions("person:selin-aydin") >= 1)
            overlay.write_text("entities:\n  - {id: x, name: X, kind: CORP}\n")
            assert wait_for(lambda: "gazetteer reload failed, keeping the last good one"
                            in caplog.text)
            overlay.write_text(
                "entities:\n"
                "  - {id: selin-aydin, name: Selin Aydin, kind: CREW,\n"
                "     aliases: [Selin Aydin, Selin A. Aydin]}\n"
                "merge:\n  person:selin-aydin: selin-aydin\n")
            server.route("/c.xml", Reply(rss([first, second])))
            assert wait_for(lambda: mentions("selin-aydin") >= 2)
            assert wait_for(lambda: mentions("person:selin-aydin") == 0)  # re-analysed
            assert "gazetteer reloaded: gazetteer.local.yaml changed" in caplog.text
            surfaces = {r[0] for r in rows(db, "SELECT surface FROM mentions WHERE "
                                              "entity_id = 'selin-aydin'")}
            assert "Selin A. Aydin" in surfaces  # the article fetched after the edit
        finally:
            daemon.stop()
            thread.join(timeout=15)
        assert not thread.is_alive()
