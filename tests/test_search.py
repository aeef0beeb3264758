"""``spacewatch search``: words are searched as typed (``cross-flight`` is not FTS5 syntax),
newest first, with a snippet; ``--raw`` passes FTS5's own syntax through."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import QueryError
from pipeline.query import HIT_END, HIT_START, fts_query, run_query, search_articles
from pipeline.records import Article
from pipeline.store import Store

TEXTS = [
    ("2025-07-10T08:00:00Z", "Cross-flight seats agreed", "NASA and Roscosmos extend the "
     "cross-flight programme to 2027."),
    ("2025-07-12T08:00:00Z", "Crew swap", "The integrated crew (cross flight) agreement holds."),
    ("2025-07-14T08:00:00Z", "[caption id=1]Photo[/caption] Deorbit", "A flight to cross the "
     "line: no phrase here, the words are apart. Deorbiting the ISS is planned."),
    ("2025-07-11T08:00:00Z", 'The "Soyuz" question', "Seats on Soyuz and Dragon."),
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.save_articles([Article(guid=f"g{i}", url=None, title=title, summary=summary,
                                     published_at=published, published_estimated=False,
                                     content_hash=f"h{i}")
                             for i, (published, title, summary) in enumerate(TEXTS)],
                            "2025-07-15T10:00:00Z")
    return path


def test_terms_are_quoted_for_fts5() -> None:
    assert fts_query("cross-flight") == '"cross-flight"'
    assert fts_query('  Bakanov   "Soyuz" ') == '"Bakanov" """Soyuz"""'
    with pytest.raises(QueryError, match="nothing to search for"):
        fts_query("   ")


def test_a_hyphenated_word_fails_in_plain_match_and_works_in_search(db: Path) -> None:
    with pytest.raises(QueryError, match="no such column: flight"):
        run_query(db, "SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'cross-flight'")
    hits = search_articles(db, "cross-flight")
    assert [h.title for h in hits] == ["Crew swap", "Cross-flight seats agreed"]  # newest first
    assert HIT_START + "cross flight" + HIT_END in hits[0].snippet.lower()


def test_every_word_must_occur_and_stemming_applies(db: Path) -> None:
    assert [h.title for h in search_articles(db, "deorbit ISS")] == [TEXTS[2][1]]
    assert search_articles(db, "deorbit soyuz") == []
    assert [h.title for h in search_articles(db, '"Soyuz"')] == [TEXTS[3][1]]


def test_raw_passes_fts5_syntax_and_reports_its_errors_in_one_line(db: Path) -> None:
    hits = search_articles(db, "soyuz OR deorbit*", raw=True)
    assert {h.title for h in hits} == {TEXTS[2][1], TEXTS[3][1]}
    with pytest.raises(QueryError, match=r"^full-text search syntax error near") as raised:
        search_articles(db, 'soyuz AND (', raw=True)
    assert "\n" not in str(raised.value)


def test_the_command_prints_id_date_feed_title_and_snippet_verbatim(db: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(db), "search", "deorbit"])
    assert result.exit_code == 0, result.output
    assert "[caption id=1]Photo[/caption] Deorbit" in result.stdout
    assert "2025-07-14T08:00:00Z" in result.stdout and "import" in result.stdout
    assert "1 article, newest first" in result.stderr
    limited = CliRunner().invoke(cli, ["--db", str(db), "search", "seats", "--limit", "1",
                                       "--format", "csv"])
    assert limited.exit_code == 0, limited.output
    lines = limited.stdout.splitlines()
    assert lines[0] == "id,published_at,feed,title,snippet" and len(lines) == 2
    assert "[Seats]" in lines[1]
