"""Fault suite, hostile XML and content: nothing expands, nothing leaks, nothing crashes.

feedparser falls back to a lenient parser that expands entities defined in a DOCTYPE
internal subset; SpaceWatch removes internal subsets and entity declarations before parsing
(``pipeline.normalize.defuse_xml``), so entity bombs cannot expand and external entities
cannot be read.
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import Settings
from pipeline.normalize import parse_feed
from pipeline.store import Store

from .conftest import fetch_only, make_config
from .httpserver import LocalServer, Reply, items, rss

pytestmark = pytest.mark.fault
NOW = datetime(2025, 7, 20, tzinfo=UTC)


def quadratic_blowup(entity_kb: int = 50, refs: int = 10_000) -> bytes:
    """~100 KB: one 50 KB entity referenced 10,000 times (500 MB if expanded)."""
    entity = "A" * (entity_kb * 1024)
    body = "&big;" * refs
    return (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{entity}">]>'
            f'<rss version="2.0"><channel><title>t</title><item><title>bomb</title>'
            f"<guid>q1</guid><description>{body}</description></item></channel></rss>"
            ).encode()


def billion_laughs() -> bytes:
    decl = '<!ENTITY lol "lol">'
    for i in range(1, 10):
        prev = "lol" if i == 1 else f"lol{i - 1}"
        decl += f'<!ENTITY lol{i} "{("&" + prev + ";") * 10}">'
    return (f'<?xml version="1.0"?><!DOCTYPE rss [{decl}]><rss version="2.0"><channel>'
            "<title>t</title><item><title>laughs &lol9;</title><guid>b1</guid>"
            "<description>&lol9;</description></item></channel></rss>").encode()


def peak_mb(body: bytes) -> tuple[float, object]:
    tracemalloc.start()
    try:
        parsed = parse_feed(body, url="http://127.0.0.1/f", content_type="application/xml",
                            fetched_at=NOW, settings=Settings())
        return tracemalloc.get_traced_memory()[1] / 2**20, parsed
    finally:
        tracemalloc.stop()


def test_quadratic_blowup_does_not_expand() -> None:
    body = quadratic_blowup()
    assert 90_000 < len(body) < 300_000
    peak, parsed = peak_mb(body)
    assert peak < 40, f"parsing used {peak:.0f} MB"
    assert "A" * 1000 not in parsed.articles[0].summary
    assert any("DOCTYPE" in n for n in parsed.notes)


def test_billion_laughs_does_not_expand() -> None:
    peak, parsed = peak_mb(billion_laughs())
    assert peak < 40
    assert "lollollol" not in json.dumps([a.__dict__ for a in parsed.articles])


def test_external_entity_never_reads_a_local_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-XXE-MARKER")
    bodies = [
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>&xxe;</title><item><title>x &xxe;</title>'
        "<guid>x1</guid><description>&xxe;</description></item></channel></rss>",
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "file://{secret}">'
        '<rss version="2.0"><channel><title>t</title><item><title>ext dtd</title>'
        "<guid>x2</guid></item></channel></rss>",
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "file://{secret}">%p;]>'
        '<rss version="2.0"><channel><title>t</title><item><title>param</title>'
        "<guid>x3</guid></item></channel></rss>",
    ]
    with LocalServer() as server, Store(tmp_path / "x.db") as store:
        feeds = {f"x{i}": server.route(f"/{i}.xml", Reply(b.encode()))
                 for i, b in enumerate(bodies)}
        fetch_only(store, make_config(feeds))
        dump = "\n".join(store.conn.iterdump())
    assert "TOP-SECRET-XXE-MARKER" not in dump
    assert "ext dtd" in dump  # the feeds were still read


def test_wrong_declared_encoding_invalid_utf8_and_nul_bytes(server: LocalServer,
                                                           store: Store) -> None:
    wrong = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t'
             "</title><item><title>Роскосмос cp1251</title><guid>w1</guid></item></channel>"
             "</rss>").encode("cp1251")
    broken = rss([{"title": "bad bytes", "guid": "w2"}]).replace(b"bad bytes",
                                                                 b"bad \xff\xfe bytes\x00 here")
    a = server.route("/a.xml", Reply(wrong))
    b = server.route("/b.xml", Reply(broken))
    report = fetch_only(store, make_config({"a": a, "b": b}))
    assert {f.outcome for f in report.feeds} <= {"ok", "failed"}
    assert all(f.error for f in report.feeds if f.outcome == "failed")
    titles = [r["title"] for r in store.rows("SELECT title FROM articles")]
    assert titles and all("\x00" not in t for t in titles)


def test_missing_and_duplicate_guids(server: LocalServer, store: Store) -> None:
    entries = items(3)
    entries[1]["guid"] = entries[0]["guid"]  # duplicate id inside one document
    del entries[2]["guid"]  # no id: the link identifies it
    url = server.route("/f.xml", Reply(rss(entries)))
    fetch_only(store, make_config({"f": url}))
    fetch_only(store, make_config({"f": url}))
    guids = sorted(r["guid"] for r in store.rows("SELECT guid FROM articles"))
    # feedparser resolves a permalink guid against the feed URL; either way: two articles.
    assert len(guids) == 2
    assert guids[0].endswith("item-0") and guids[1] == "http://news.example.invalid/item/2"


def test_twenty_thousand_items_are_capped_and_the_cap_logged(server: LocalServer,
                                                             store: Store) -> None:
    url = server.route("/big.xml", Reply(rss(items(20_000))))
    report = fetch_only(store, make_config({"f": url}, max_items_per_feed=500,
                                         max_body_bytes=50_000_000))
    assert report.new == 500
    detail = store.scalar("SELECT detail FROM fetches")
    assert "20000 entries, capped at 500" in detail


def test_overlong_and_script_links_are_rejected(server: LocalServer, store: Store) -> None:
    entries = [{"title": "long", "guid": "l1", "link": "http://e.invalid/" + "a" * 2000},
               {"title": "js", "guid": "l2", "link": "javascript:alert(document.cookie)"},
               {"title": "data", "guid": "l3", "link": "data:text/html;base64,PHNjcmlwdD4="}]
    url = server.route("/f.xml", Reply(rss(entries)))
    fetch_only(store, make_config({"f": url}))
    rows = store.rows("SELECT guid, url FROM articles ORDER BY guid")
    assert [(r["guid"].rsplit("/", 1)[-1], r["url"]) for r in rows] == [
        ("l1", None), ("l2", None), ("l3", None)]


def test_text_longer_than_spacy_max_length_is_stored_and_ner_bounded(tmp_path: Path) -> None:
    text = "Dmitry Bakanov of Roscosmos met NASA officials. " + "filler words here. " * 60_000
    assert len(text) > 1_000_000  # spaCy's default max_length
    archive = tmp_path / "big.jsonl"
    archive.write_text(json.dumps({"id": "huge", "title": "Huge", "text": text}) + "\n")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "t.db"), "--config",
                                      str(tmp_path / "none.yaml"), "import", str(archive)])
    assert result.exit_code == 0, result.output
    with Store(tmp_path / "t.db") as store:
        assert store.scalar("SELECT length(text) FROM articles") == len(text.strip())
        assert store.scalar("SELECT nlp_version IS NOT NULL FROM articles") == 1
        assert store.scalar("SELECT count(*) FROM mentions WHERE entity_id = 'dmitry-bakanov'")
