"""Who said what in the pipeline (issue 13, item 7): quotes found with an article's mentions,
stored with them in the ``quotes`` table, and shown by ``analyze``, ``explain`` and the digest.

The articles go through the real NER (spaCy for English, the Russian path for Russian); the
quote finder itself is specified in tests/test_quotes.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.records import Quote
from pipeline.store import Store
from pipeline.store.reports import QUOTE_CHARS, digest_quotes

DAY = "2025-07-15"
#: A quote with Markdown and HTML in it: the digest must show it inert.
HOSTILE = '<b>Keep</b> the *deorbit* [plan](javascript:alert(1)) on track'
ARTICLES = [
    {"id": "en-1", "title": "Bakanov and Duffy agree to keep the seat swap",
     "published": f"{DAY}T09:00:00Z",
     "text": "Roscosmos chief Dmitry Bakanov met acting NASA Administrator Sean Duffy in Houston "
             "on Tuesday to discuss the cross-flight program and the deorbit of the ISS. "
             '"Through hard times, we don\'t throw those relationships away," Duffy said. '
             "Bakanov said that Roscosmos was ready to extend the seat swap until 2028."},
    {"id": "ru-1", "title": "Баканов и Даффи продлят перекрёстные полёты",
     "published": f"{DAY}T10:00:00Z",
     "text": "Глава Роскосмоса Дмитрий Баканов встретился в Хьюстоне с руководителем НАСА "
             "Шоном Даффи. «Мы продолжим перекрёстные полёты до 2028 года», — заявил Баканов. "
             "По словам Даффи, сотрудничество в космосе продолжается."},
    {"id": "en-2", "title": "Duffy: the ISS deorbit plan stays, cross-flights go on",
     "published": f"{DAY}T11:00:00Z",
     "text": "Acting NASA Administrator Sean Duffy met Roscosmos chief Dmitry Bakanov again on "
             "the cross-flight program and the ISS deorbit. "
             f'"{HOSTILE}," Duffy said. The seat swap with Roscosmos continues.'},
]


def _args(db: Path) -> list[str]:
    return ["--db", str(db), "--config", str(db.parent / "none.yaml")]


def _write(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the three articles imported (real NER, the project's seeds)."""
    folder = tmp_path_factory.mktemp("quotes")
    db = folder / "q.db"
    result = CliRunner().invoke(cli, [*_args(db), "import",
                                      str(_write(folder / "in.jsonl", ARTICLES))])
    assert result.exit_code == 0, result.output
    return db


def _quotes(db: Path) -> list[tuple[str, str, str, str]]:
    with Store(db) as store:
        return [(r["guid"], r["speaker_entity_id"], r["kind"], r["text"]) for r in store.rows(
            "SELECT a.guid, q.speaker_entity_id, q.kind, q.text FROM quotes q "
            "JOIN articles a ON a.id = q.article_id ORDER BY a.guid, q.start")]


def _article_id(db: Path, guid: str) -> int:
    with Store(db) as store:
        value = store.scalar("SELECT id FROM articles WHERE guid = ?", [guid])
    assert isinstance(value, int)
    return value


def test_import_stores_each_quote_with_its_speaker_in_english_and_russian(
        imported: Path) -> None:
    assert _quotes(imported) == [
        ("en-1", "sean-duffy", "direct",
         "Through hard times, we don't throw those relationships away"),
        ("en-1", "dmitry-bakanov", "reported",
         "Roscosmos was ready to extend the seat swap until 2028"),
        ("en-2", "sean-duffy", "direct", HOSTILE),
        ("ru-1", "dmitry-bakanov", "direct", "Мы продолжим перекрёстные полёты до 2028 года"),
        ("ru-1", "sean-duffy", "reported", "сотрудничество в космосе продолжается"),
    ]
    with Store(imported) as store:
        row = store.rows("SELECT q.*, a.text, a.title, a.nlp_version AS article_nlp "
                         "FROM quotes q JOIN articles a ON a.id = q.article_id "
                         "WHERE q.kind = 'direct' ORDER BY q.id LIMIT 1")[0]
    analysed = f"{row['title']}\n\n{row['text']}"
    assert analysed[row["start"]:row["end"]] == row["text"] or row["text"] in analysed
    assert row["sentence_start"] <= row["start"] < row["end"] <= row["sentence_end"]
    assert (row["speaker_name"], row["cue"], row["nlp_version"]) == (
        "Sean Duffy", "said", row["article_nlp"])


def test_reanalysis_replaces_the_quotes_and_never_duplicates_them(imported: Path,
                                                                  tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    shutil.copy(imported, db)
    before = _quotes(db)
    result = CliRunner().invoke(cli, [*_args(db), "reprocess", "--all"])
    assert result.exit_code == 0, result.output
    assert _quotes(db) == before
    changed = dict(ARTICLES[0], text="Roscosmos chief Dmitry Bakanov met Sean Duffy. "
                                     '"We will fly together again," Bakanov said.')
    result = CliRunner().invoke(cli, [*_args(db), "import",
                                      str(_write(tmp_path / "upd.jsonl", [changed]))])
    assert result.exit_code == 0, result.output
    assert [q for q in _quotes(db) if q[0] == "en-1"] == [
        ("en-1", "dmitry-bakanov", "direct", "We will fly together again")]
    assert len(_quotes(db)) == len(before) - 1


def test_analyze_prints_the_quotes_of_each_text(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "none.yaml"), "analyze"],
                                input=ARTICLES[0]["text"])
    assert result.exit_code == 0, result.output
    quotes = json.loads(result.stdout)["quotes"]
    assert [(q["speaker_id"], q["speaker_name"], q["kind"], q["cue"]) for q in quotes] == [
        ("sean-duffy", "Sean Duffy", "direct", "said"),
        ("dmitry-bakanov", "Dmitry Bakanov", "reported", "said")]
    first = quotes[0]
    assert ARTICLES[0]["text"][first["start"]:first["end"]] == first["text"]
    assert set(first) == {"speaker_id", "speaker_name", "text", "kind", "cue", "start", "end"}


def test_explain_prints_who_said_what_and_marks_the_seeds_entities(imported: Path) -> None:
    result = CliRunner().invoke(cli, [*_args(imported), "explain",
                                      str(_article_id(imported, "ru-1"))])
    assert result.exit_code == 0, result.output
    section = result.stdout.split("who said what")[1]
    assert "Dmitry Bakanov (seed entity) — “Мы продолжим перекрёстные полёты до 2028 года”" \
        in section
    assert "Sean Duffy (seed entity) — “сотрудничество в космосе продолжается” (reported)" \
        in section


def test_explain_of_an_article_without_quotes_says_so(tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    plain = [{"id": "p", "text": "NASA and Roscosmos extended the cross-flight agreement.",
              "published": f"{DAY}T09:00:00Z"}]
    CliRunner().invoke(cli, [*_args(db), "import", str(_write(tmp_path / "p.jsonl", plain))])
    result = CliRunner().invoke(cli, [*_args(db), "explain", "1"])
    assert result.exit_code == 0, result.output
    assert "who said what: no attributed quotes" in result.stdout


def test_digest_shows_who_said_what_under_the_matching_article(imported: Path) -> None:
    # The digest lists what was found (today, by this import): --since the publication day.
    md = CliRunner().invoke(cli, [*_args(imported), "digest", "--since", DAY])
    assert md.exit_code == 0, md.output
    first = md.stdout.index("Bakanov and Duffy agree")
    block = md.stdout[first:md.stdout.index("\n\n", first)]
    assert "- Who said what:" in block
    assert "Sean Duffy: “Through hard times, we don't throw those relationships away”" in block
    assert "Dmitry Bakanov: “Мы продолжим перекрёстные полёты до 2028 года”" in block
    # Markdown in a quote is escaped like every other field
    assert r"\<b\>Keep\</b\>" in md.stdout
    assert r"\*deorbit\*" in md.stdout and "[plan](javascript" not in md.stdout

    html = CliRunner().invoke(cli, [*_args(imported), "digest", "--since", DAY,
                                    "--format", "html"])
    assert html.exit_code == 0, html.output
    assert 'class="quote"' in html.stdout and "Who said what" in html.stdout
    assert "&lt;b&gt;Keep&lt;/b&gt;" in html.stdout and "<b>Keep</b>" not in html.stdout

    text = CliRunner().invoke(cli, [*_args(imported), "digest", "--since", DAY,
                                    "--format", "text"])
    assert "Sean Duffy: “Through hard times" in text.stdout

    data = json.loads(CliRunner().invoke(cli, [*_args(imported), "digest", "--since", DAY,
                                               "--format", "json"]).stdout)
    match = next(m for s in data["seeds"] for m in s["matches"] if m["title"].startswith("Баканов"))
    assert match["quotes"] == [
        {"speaker_id": "dmitry-bakanov", "speaker_name": "Dmitry Bakanov", "kind": "direct",
         "text": "Мы продолжим перекрёстные полёты до 2028 года", "seed_entity": True},
        {"speaker_id": "sean-duffy", "speaker_name": "Sean Duffy", "kind": "reported",
         "text": "сотрудничество в космосе продолжается", "seed_entity": True}]


def _q(speaker: str, kind: str, start: int, text: str = "words") -> Quote:
    return Quote(speaker_entity_id=speaker, speaker_name=speaker.title(), text=text, kind=kind,
                 start=start, end=start + len(text), sentence_start=start,
                 sentence_end=start + len(text), cue="said")


def test_digest_picks_three_quotes_direct_first_then_the_seeds_entities_and_cuts_long_ones(
        ) -> None:
    quotes = [_q("bystander", "reported", 0), _q("bakanov", "reported", 10),
              _q("bystander", "direct", 20), _q("duffy", "direct", 30, "x" * 500),
              _q("bakanov", "reported", 40)]
    picked = digest_quotes(quotes, {"bakanov", "duffy"})
    assert [(q.speaker_id, q.kind, q.seed_entity) for q in picked] == [
        ("duffy", "direct", True), ("bystander", "direct", False),
        ("bakanov", "reported", True)]
    assert len(picked[0].text) <= QUOTE_CHARS + 1 and picked[0].text.endswith("…")
