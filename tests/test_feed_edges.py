"""Odd real-world feeds, over real HTTP on 127.0.0.1: invisible bidi controls, huge
oldest-first feeds, undated entries and pages, gone and moved feeds, guids that change on
every fetch."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import Config, Feed, Settings
from pipeline.digest import build_digest
from pipeline.extract import run_full_text
from pipeline.ingest import run_pass
from pipeline.store import Store

from .conftest import fetch_only, make_config
from .httpserver import LocalServer, Reply, items, rss
from .test_extract import STORY, article_page

ROOT = Path(__file__).resolve().parents[1]
RLO, LRI, PDI, ZWSP = "\u202e", "\u2066", "\u2069", "\u200b"


def articles(store: Store) -> list[dict]:
    return store.rows("SELECT * FROM articles ORDER BY id")


def short(guid: str) -> str:
    """The guid as written in the feed (feedparser resolves a permalink guid against the
    feed's URL)."""
    return guid.rsplit("/", 1)[-1]


def full_text_config(feeds: dict[str, str], **settings: object) -> Config:
    base = dict(timeout_connect=2.0, timeout_read=2.0, timeout_total=5.0, page_delay=0.0,
                full_text=True)
    base.update(settings)
    return Config(feeds=tuple(Feed(name=n, url=u) for n, u in feeds.items()),
                  settings=dataclasses.replace(Settings(), **base))


# -- 11.6: bidi and zero-width controls never reach the reader ------------------------------


def test_right_to_left_override_in_a_feed_reaches_neither_the_database_nor_the_digest(
        server: LocalServer, store: Store) -> None:
    title = (f"Roscosmos chief Dmitry Bakanov visits NASA {RLO}for cross-flight talks{PDI} "
             f"on ISS extension")
    summary = (f"{LRI}Roscosmos Director General Dmitry Bakanov{PDI} met NASA's Sean Duffy in "
               f"Houston to discuss the cross-flight{ZWSP} seat swap, ISS extension and the "
               f"deorbit of the International Space Station.{RLO} Bakanov said Roscosmos "
               "would keep the station running until 2028.")
    entry = {"title": title, "link": "http://news.example.invalid/rlo",
             "guid": "rlo-1", "description": summary,
             "pubDate": "Wed, 16 Jul 2025 09:30:00 GMT", "author": f"{RLO}Anna{RLO} Reporter"}
    url = server.route("/feed.xml", Reply(rss([entry], title=f"Wire {RLO}news")))
    config = make_config({"wire": url}, seeds_dir=str(ROOT / "seeds"))
    run_pass(store, config)
    art = articles(store)[0]
    for column in ("title", "summary", "text", "author"):
        assert not any(c in (art[column] or "") for c in (RLO, LRI, PDI, ZWSP)), column
    assert art["title"] == ("Roscosmos chief Dmitry Bakanov visits NASA for cross-flight "
                            "talks on ISS extension")
    assert "cross-flight seat swap" in art["text"]
    assert store.scalar("SELECT count(*) FROM matches WHERE article_id = ?", [art["id"]]) == 1
    html = build_digest(store, date(2025, 7, 16), "html", "UTC",
                        now=datetime(2025, 7, 16, 20, 0, tzinfo=UTC))
    assert "visits NASA for cross-flight talks" in html  # the article is in the digest …
    for char in (RLO, LRI, PDI, ZWSP):                    # … and no control reached it
        assert char not in html


# -- 11.19: an unparseable date is kept as the fetch time, flagged, and said -----------------


def test_unparseable_published_date_is_flagged_and_noted(server: LocalServer,
                                                          store: Store) -> None:
    entries = items(2)
    entries[0]["pubDate"] = "yesterday-ish"
    url = server.route("/feed.xml", Reply(rss(entries)))
    report = fetch_only(store, make_config({"f": url}))
    by_guid = {short(a["guid"]): a for a in articles(store)}
    assert by_guid["item-0"]["published_estimated"] == 1
    assert by_guid["item-1"]["published_estimated"] == 0
    note = "; ".join(report.feeds[0].notes)
    assert "unparseable published 'yesterday-ish'" in note and "fetch time" in note
    detail = store.scalar("SELECT detail FROM fetches")
    assert "unparseable published 'yesterday-ish'" in detail


# -- 12.6: the item cap keeps the newest entries -------------------------------------------


def test_item_cap_on_an_oldest_first_feed_keeps_the_newest(server: LocalServer,
                                                           store: Store) -> None:
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    entries = [{"title": f"Story {i} on station plans", "link": f"http://n.invalid/s/{i}",
                "guid": f"s-{i}", "description": f"Story number {i}.",
                "pubDate": format_datetime(newest - timedelta(minutes=5 * (4999 - i)),
                                           usegmt=True)}
               for i in range(5000)]  # oldest first: s-0 is 17 days older than s-4999
    url = server.route("/feed.xml", Reply(rss(entries)))
    report = fetch_only(store, make_config({"f": url}, max_items_per_feed=500))
    guids = {short(a["guid"]) for a in articles(store)}
    assert len(guids) == 500 and report.new == 500
    assert guids == {f"s-{i}" for i in range(4500, 5000)}
    assert any("kept the newest 500" in n for n in report.feeds[0].notes)


def test_item_cap_on_an_undated_feed_keeps_the_top_of_the_document(server: LocalServer,
                                                                   store: Store) -> None:
    entries = [{"title": f"Undated story {i}", "link": f"http://n.invalid/u/{i}",
                "guid": f"u-{i}"} for i in range(30)]
    url = server.route("/feed.xml", Reply(rss(entries)))
    fetch_only(store, make_config({"f": url}, max_items_per_feed=10))
    assert {short(a["guid"]) for a in articles(store)} == {f"u-{i}" for i in range(10)}


# -- 12.7: a page date only from the article's own metadata ---------------------------------


def page_without_metadata_date(footer: str) -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in STORY)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Talks</title>"
            f"</head><body><main><article><h1>Talks in Houston</h1>{paragraphs}</article>"
            f"</main><footer>{footer}</footer></body></html>").encode()


def test_undated_entry_does_not_take_its_date_from_the_page_footer(server: LocalServer,
                                                                   store: Store) -> None:
    page = server.route("/a.html", Reply(page_without_metadata_date(
        "© 2019–2024 Example News. All rights reserved."), content_type="text/html"))
    feed = server.route("/f.xml", Reply(rss([{"title": "Talks", "link": page, "guid": "x",
                                              "description": "Short."}])))
    before = datetime.now(UTC).replace(microsecond=0)
    fetch_only(store, full_text_config({"f": feed}))
    run_full_text(store, full_text_config({"f": feed}).settings)
    art = articles(store)[0]
    assert art["text_source"] == "page"
    published = datetime.fromisoformat(art["published_at"].replace("Z", "+00:00"))
    assert published >= before - timedelta(seconds=1)  # the fetch time, not 2019-01-01
    assert art["published_estimated"] == 1


def test_page_date_from_json_ld_and_article_header_time_is_trusted(server: LocalServer,
                                                                   store: Store) -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in STORY)
    json_ld = ('<script type="application/ld+json">{"@context": "https://schema.org", '
               '"@graph": [{"@type": "WebSite", "name": "x"}, {"@type": "NewsArticle", '
               '"headline": "Talks", "datePublished": "2025-07-14T06:15:00+03:00"}]}</script>')
    with_ld = (f"<html><head><title>Talks</title>{json_ld}</head><body><article><h1>Talks</h1>"
               f"{paragraphs}</article><footer>© 2019–2024</footer></body></html>").encode()
    with_time = ("<html><head><title>Talks</title></head><body><article><header><h1>Talks</h1>"
                 "<time datetime='2025-07-13T10:00:00Z'>13 July</time></header>"
                 f"{paragraphs}</article><footer>© 2019–2024</footer></body></html>").encode()
    a = server.route("/ld.html", Reply(with_ld, content_type="text/html"))
    b = server.route("/time.html", Reply(with_time, content_type="text/html"))
    feed = server.route("/f.xml", Reply(rss([{"title": "A", "link": a, "guid": "a"},
                                             {"title": "B", "link": b, "guid": "b"}])))
    fetch_only(store, full_text_config({"f": feed}))
    run_full_text(store, full_text_config({"f": feed}).settings)
    dates = {short(r["guid"]): (r["published_at"], r["published_estimated"])
             for r in articles(store)}
    assert dates == {"a": ("2025-07-14T03:15:00Z", 0), "b": ("2025-07-13T10:00:00Z", 0)}


# -- 12.8: 410 Gone disables at once; a permanent move is followed and reported --------------


def test_410_gone_disables_the_feed_at_once_and_says_why(server: LocalServer, store: Store,
                                                         tmp_path: Path) -> None:
    url = server.route("/gone.xml", Reply(status=410, body=b"gone", content_type="text/plain"))
    config = make_config({"f": url})
    fetch_only(store, config)
    row = store.feed_status()[0]
    assert row["disabled"] == 1
    assert row["disabled_reason"] == "410 Gone: the publisher removed this feed"
    again = fetch_only(store, config)
    assert again.feeds[0].outcome == "skipped" and server.hits["/gone.xml"] == 1
    result = CliRunner().invoke(cli, ["--db", str(store.path), "--config",
                                      str(tmp_path / "none.yaml"), "status"])
    assert result.exit_code == 0
    gone = [line for line in result.output.splitlines()
            if "410 Gone: the publisher removed this feed" in line]
    assert gone and "disabled" in gone[0].lower()


def test_301_is_recorded_and_the_new_url_fetched_from_then_on(server: LocalServer,
                                                             store: Store,
                                                             tmp_path: Path) -> None:
    server.route("/new.xml", Reply(rss(items(2)), etag=True))
    old = server.route("/old.xml", Reply(status=301, headers={"Location": "/new.xml"}))
    config = make_config({"f": old})
    first = fetch_only(store, config)
    assert first.new == 2
    assert any("moved permanently to " + server.url("/new.xml") in n
               for n in first.feeds[0].notes)
    row = store.rows("SELECT * FROM feeds")[0]
    assert row["moved_to"] == server.url("/new.xml") and row["moved_at"]
    assert "moved permanently" in store.scalar("SELECT detail FROM fetches")
    second = fetch_only(store, config)
    assert server.hits["/old.xml"] == 1 and server.hits["/new.xml"] == 2
    assert second.feeds[0].outcome == "not_modified"  # the new URL's ETag was sent to it
    result = CliRunner().invoke(cli, ["--db", str(store.path), "--config",
                                      str(tmp_path / "none.yaml"), "status"])
    text = " ".join(result.output.split())
    assert f"feed f moved permanently to {server.url('/new.xml')}: update feeds.yaml" in text
    # The user updates feeds.yaml: the move is settled and the new URL's ETag still holds.
    store.sync_feeds([Feed(name="f", url=server.url("/new.xml"))], False, "2025-07-16T00:00:00Z")
    assert store.rows("SELECT moved_to FROM feeds")[0]["moved_to"] is None
    third = fetch_only(store, make_config({"f": server.url("/new.xml")}))
    assert third.feeds[0].outcome == "not_modified"


def test_308_is_a_move_but_302_and_307_change_nothing(server: LocalServer,
                                                      store: Store) -> None:
    server.route("/target.xml", Reply(rss(items(1))))
    feeds = {}
    for code in (302, 307, 308):
        feeds[f"r{code}"] = server.route(f"/r{code}.xml", Reply(
            status=code, headers={"Location": "/target.xml"}))
    fetch_only(store, make_config(feeds))
    moved = {r["name"]: r["moved_to"] for r in store.rows("SELECT name, moved_to FROM feeds")}
    assert moved == {"r302": None, "r307": None, "r308": server.url("/target.xml")}
    fetch_only(store, make_config(feeds), force=True)
    assert server.hits["/r302.xml"] == 2 and server.hits["/r307.xml"] == 2
    assert server.hits["/r308.xml"] == 1


def test_changing_the_configured_url_drops_the_move_and_the_old_etag(server: LocalServer,
                                                                     store: Store) -> None:
    server.route("/new.xml", Reply(rss(items(2)), etag=True))
    old = server.route("/old.xml", Reply(status=301, headers={"Location": "/new.xml"}))
    fetch_only(store, make_config({"f": old}))
    other = server.route("/other.xml", Reply(rss(items(2)), etag=True))
    fetch_only(store, make_config({"f": other}))
    row = store.rows("SELECT * FROM feeds")[0]
    assert row["url"] == other and row["moved_to"] is None
    assert "If-None-Match" not in server.request_headers[-1]


# -- 12.9: a guid that changes on every fetch; an updated entry on a full-text feed -----------


def test_guid_changing_on_every_fetch_keeps_one_source_row(server: LocalServer,
                                                          store: Store) -> None:
    entry = dict(items(1)[0])
    config = make_config({"f": server.url("/feed.xml")})
    for n in range(4):
        server.route("/feed.xml", Reply(rss([dict(entry, guid=f"session-{n}")])))
        fetch_only(store, config)
    assert store.scalar("SELECT count(*) FROM articles") == 1
    sources = store.rows("SELECT guid FROM article_sources")
    assert [short(s["guid"]) for s in sources] == ["session-3"]
    assert store.feed_status()[0]["articles"] == 1


def test_changed_entry_on_a_full_text_feed_fetches_its_page_again(server: LocalServer,
                                                                  store: Store) -> None:
    page = server.route("/a.html", Reply(article_page().encode(), content_type="text/html"))
    entry = {"title": "Talks in Houston", "link": page, "guid": "g1", "description": "Short."}
    feed = server.route("/f.xml", Reply(rss([entry])))
    config = full_text_config({"f": feed})
    fetch_only(store, config)
    run_full_text(store, config.settings)
    assert "Dmitry Bakanov" in articles(store)[0]["text"]
    corrected = [s.replace("Dmitry Bakanov", "Yuri Borisov") for s in STORY]
    server.route("/a.html", Reply(article_page(corrected).encode(), content_type="text/html"))
    server.route("/f.xml", Reply(rss([dict(entry, title="Corrected: talks in Houston")])))
    report = fetch_only(store, config)
    assert report.updated == 1
    art = articles(store)[0]
    assert art["page_status"] == "pending"  # NER waits for the new page text
    assert not store.articles_needing_nlp("any-version", 3)
    run_full_text(store, config.settings)
    assert server.hits["/a.html"] == 2
    art = articles(store)[0]
    assert "Yuri Borisov" in art["text"] and "Dmitry Bakanov" not in art["text"]
