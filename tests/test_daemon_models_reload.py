"""A running daemon rebuilds its analyzer when a file of ``models/`` it reads changes — the
offices, the typing cues and the name forms as well as the gazetteer — and analyses the
stored articles again (issue 13.8; the gazetteer and overlay are covered in test_curation)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from pipeline.daemon import Daemon, DaemonOptions
from pipeline.resources import default_models_dir

from .httpserver import LocalServer, Reply, rss
from .processes import wait_for

FIRST = ("The head of Roscosmos said on Tuesday that the crew is ready. The spacefarer Selin "
         "Aydin will fly on the next Soyuz, Roscosmos said.")
#: A short form of a gazetteer person's given name. It comes after the name forms' edit: a
#: new person once stored is linked by the store's people, whatever the forms say.
SECOND = ("Roscosmos chief Dmitry Bakanov met NASA officials. Later, Dimka Bakanov told TASS "
          "that Roscosmos would keep the cross-flight program.")


def item(n: int, text: str) -> dict[str, str]:
    return {"title": f"Crew news {n}", "link": f"http://news.example.invalid/c/{n}",
            "guid": f"c-{n}", "description": text, "pubDate": "Tue, 15 Jul 2025 09:30:00 GMT"}



def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path.name} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_daemon_picks_up_edits_to_offices_cues_and_name_forms_without_a_restart(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="spacewatch.daemon")
    models = tmp_path / "models"
    models.mkdir()
    for path in default_models_dir().glob("*.yaml"):
        shutil.copy(path, models)
    db = tmp_path / "d.db"

    def mentions(entity_id: str, kind: str | None = None) -> list[str]:
        """Surfaces of the stored mentions of ``entity_id`` (its stored kind ``kind``, when
        given)."""
        if not db.exists():
            return []
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
            try:
                return [r[0] for r in conn.execute(
                    "SELECT m.surface FROM mentions m JOIN entities e ON e.id = m.entity_id "
                    "WHERE m.entity_id = ? AND e.kind = coalesce(?, e.kind)", (entity_id, kind))]
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # the schema is being created
                    return []
                raise

    with LocalServer() as server:
        url = server.route("/c.xml", Reply(rss([item(1, FIRST)])))
        (tmp_path / "feeds.yaml").write_text(
            "settings: {jitter: 0.1s, timeout_total: 10s, full_text: false, "
            f"models_dir: '{models}'}}\n"
            f"feeds:\n  - {{name: c, url: '{url}', interval: 1s}}\n")
        (tmp_path / "seeds").mkdir()
        daemon = Daemon(DaemonOptions(tmp_path / "feeds.yaml", db))
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        try:
            # As shipped: Bakanov heads Roscosmos on the day, "spacefarer" types nobody.
            assert wait_for(lambda: "head of Roscosmos" in mentions("dmitry-bakanov"))
            assert mentions("person:selin-aydin", "PERSON")

            edit(models / "offices.yaml",
                 '{id: dmitry-bakanov, start: "2025-02-06", end: null}',
                 '{id: dmitry-bakanov, start: "2025-02-06", end: "2025-07-01"}\n'
                 '      - {name: Test Holder, start: "2025-07-01", end: null}')
            assert wait_for(lambda: mentions("person:test-holder") == ["head of Roscosmos"])
            assert "gazetteer reloaded: offices.yaml changed" in caplog.text

            edit(models / "entity_cues.yaml", "en: [astronaut,", "en: [spacefarer, astronaut,")
            assert wait_for(lambda: bool(mentions("person:selin-aydin", "CREW")))
            assert "gazetteer reloaded: entity_cues.yaml changed" in caplog.text

            edit(models / "name_forms.yaml", "Dmitry: [Dima, Mitya]",
                 "Dmitry: [Dima, Mitya, Dimka]")
            assert wait_for(lambda: "gazetteer reloaded: name_forms.yaml changed" in
                            caplog.text)
            server.route("/c.xml", Reply(rss([item(1, FIRST), item(2, SECOND)])))
            assert wait_for(lambda: "Dimka Bakanov" in mentions("dmitry-bakanov"))
            assert not mentions("person:dimka-bakanov")
        finally:
            daemon.stop()
            thread.join(timeout=30)
        assert not thread.is_alive()
