"""Fetching feeds over real HTTP on 127.0.0.1: every case ends in a recorded outcome."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from pipeline.records import FeedReport, NoProgress
from pipeline.store import Store

from .conftest import fetch_only, make_config
from .httpserver import LocalServer, Reply, items, rss


def fetch_rows(store: Store) -> list[dict]:
    return store.rows("SELECT f.*, feeds.name FROM fetches f JOIN feeds ON feeds.id = f.feed_id "
                      "ORDER BY f.id")


def count(store: Store, table: str) -> int:
    return store.scalar(f"SELECT count(*) FROM {table}")


def one_feed(server: LocalServer, reply: Reply, **settings: object):
    url = server.route("/feed.xml", reply)
    return make_config({"f": url}, **settings)


def test_200_stores_every_entry(server: LocalServer, store: Store) -> None:
    config = one_feed(server, Reply(rss(items(5))))
    report = fetch_only(store, config)
    assert report.new == 5
    assert count(store, "articles") == 5
    row = fetch_rows(store)[0]
    assert (row["outcome"], row["http_status"], row["new_articles"], row["error"]) == \
        ("ok", 200, 5, None)


def test_user_agent_names_project_and_contact(server: LocalServer, store: Store) -> None:
    config = one_feed(server, Reply(rss(items(1))), contact="ops@example.org")
    fetch_only(store, config)
    agent = server.request_headers[0]["User-Agent"]
    assert "SpaceWatch/" in agent and "ops@example.org" in agent


def test_second_fetch_with_etag_stores_nothing_new(server: LocalServer, store: Store) -> None:
    config = one_feed(server, Reply(rss(items(3)), etag=True))
    fetch_only(store, config)
    second = fetch_only(store, config)
    assert second.feeds[0].outcome == "not_modified"
    assert second.new == 0 and count(store, "articles") == 3
    assert server.request_headers[1].get("If-None-Match")
    assert [r["http_status"] for r in fetch_rows(store)] == [200, 304]


def test_second_pass_without_etag_adds_zero_rows(server: LocalServer, store: Store) -> None:
    config = one_feed(server, Reply(rss(items(4))))
    fetch_only(store, config)
    second = fetch_only(store, config)
    assert second.new == 0 and second.updated == 0
    assert count(store, "articles") == 4 and count(store, "article_sources") == 4


def test_changed_entry_updates_the_article(server: LocalServer, store: Store) -> None:
    entries = items(2)
    url = server.route("/feed.xml", Reply(rss(entries)))
    config = make_config({"f": url})
    fetch_only(store, config)
    entries[0]["title"] = "Corrected: NASA and Roscosmos agree on deorbit plan"
    server.route("/feed.xml", Reply(rss(entries)))
    second = fetch_only(store, config)
    assert (second.new, second.updated) == (0, 1)
    titles = {r["title"] for r in store.rows("SELECT title FROM articles")}
    assert "Corrected: NASA and Roscosmos agree on deorbit plan" in titles
    assert count(store, "articles") == 2


def test_redirect_is_followed(server: LocalServer, store: Store) -> None:
    server.route("/new.xml", Reply(rss(items(2))))
    url = server.route("/old.xml", Reply(status=301, headers={"Location": "/new.xml"}))
    report = fetch_only(store, make_config({"f": url}))
    assert report.new == 2


@pytest.mark.fault
def test_redirect_loop_is_a_recorded_error(server: LocalServer, store: Store) -> None:
    server.route("/a.xml", Reply(status=302, headers={"Location": "/b.xml"}))
    url = server.route("/b.xml", Reply(status=302, headers={"Location": "/a.xml"}))
    report = fetch_only(store, make_config({"f": url}))
    assert report.feeds[0].error == "redirect loop"
    assert fetch_rows(store)[0]["outcome"] == "failed"


@pytest.mark.fault
def test_too_many_redirects(server: LocalServer, store: Store) -> None:
    for i in range(10):
        server.route(f"/r{i}", Reply(status=302, headers={"Location": f"/r{i + 1}"}))
    report = fetch_only(store, make_config({"f": server.url("/r0")}, max_redirects=3))
    assert report.feeds[0].error == "too many redirects"


def test_404_and_500_are_recorded_and_back_off(server: LocalServer, store: Store) -> None:
    a = server.route("/gone.xml", Reply(status=404, body=b"no", content_type="text/plain"))
    b = server.route("/err.xml", Reply(status=500, body=b"boom", content_type="text/plain"))
    report = fetch_only(store, make_config({"a": a, "b": b}))
    errors = {f.feed: f.error for f in report.feeds}
    assert errors == {"a": "http 404", "b": "http 500"}
    feeds = {r["name"]: r for r in store.feed_status()}
    assert feeds["a"]["error_count"] == 1 and feeds["b"]["error_count"] == 1
    assert feeds["a"]["next_fetch_at"] > datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Inside the backoff window the next pass skips the feeds instead of hammering them.
    again = fetch_only(store, make_config({"a": a, "b": b}))
    assert {f.outcome for f in again.feeds} == {"skipped"}
    assert server.hits["/gone.xml"] == 1


@pytest.mark.fault
def test_backoff_grows_and_feed_is_flagged_disabled(server: LocalServer, store: Store) -> None:
    url = server.route("/err.xml", Reply(status=503, body=b"", content_type="text/plain"))
    config = make_config({"f": url}, disable_after=3)
    waits = []
    for _ in range(3):
        fetch_only(store, config, force=True)
        row = store.feed_status()[0]
        waits.append(datetime.fromisoformat(row["next_fetch_at"].replace("Z", "+00:00")))
    assert waits[0] < waits[1] < waits[2]
    row = store.feed_status()[0]
    assert row["disabled"] == 1 and "3 failures" in row["disabled_reason"]
    skipped = fetch_only(store, config)
    assert skipped.feeds[0].error == "disabled"


def test_429_retry_after_is_honoured(server: LocalServer, store: Store) -> None:
    url = server.route("/f.xml", Reply(status=429, headers={"Retry-After": "7200"}))
    fetch_only(store, make_config({"f": url}))
    row = store.feed_status()[0]
    wait = datetime.fromisoformat(row["next_fetch_at"].replace("Z", "+00:00")) - datetime.now(UTC)
    assert 7000 < wait.total_seconds() <= 7200


@pytest.mark.fault
def test_server_slower_than_timeout(server: LocalServer, store: Store) -> None:
    url = server.route("/slow.xml", Reply(rss(items(1)), delay=3))
    report = fetch_only(store, make_config({"f": url}, timeout_read=0.5))
    assert report.feeds[0].error == "read timeout"
    assert count(store, "articles") == 0


def test_one_slow_feed_does_not_delay_the_others(server: LocalServer, store: Store) -> None:
    feeds = {"slow": server.route("/slow.xml", Reply(rss(items(1, "s")), delay=1.5))}
    for i in range(6):
        feeds[f"fast{i}"] = server.route(f"/fast{i}.xml",
                                         Reply(rss(items(1, f"f{i}")), delay=0.3))
    finished: list[tuple[str, float]] = []
    started = time.monotonic()

    class Finished(NoProgress):
        def feed_done(self, report: FeedReport) -> None:
            finished.append((report.feed, time.monotonic() - started))

    fetch_only(store, make_config(feeds), progress=Finished())
    order = [name for name, _ in finished]
    assert order[-1] == "slow"
    assert count(store, "articles") == 7


@pytest.mark.fault
def test_body_over_the_limit(server: LocalServer, store: Store) -> None:
    big = rss(items(400))
    url = server.route("/big.xml", Reply(big))
    report = fetch_only(store, make_config({"f": url}, max_body_bytes=10_000))
    assert report.feeds[0].error == "body too large"


@pytest.mark.fault
def test_chunked_body_without_length_over_the_limit(server: LocalServer, store: Store) -> None:
    url = server.route("/big.xml", Reply(rss(items(400)), chunked=True))
    report = fetch_only(store, make_config({"f": url}, max_body_bytes=10_000))
    assert report.feeds[0].error == "body too large"


def test_gzip_feed_is_decoded(server: LocalServer, store: Store) -> None:
    url = server.route("/gz.xml", Reply(rss(items(3)), gzip=True))
    assert fetch_only(store, make_config({"f": url})).new == 3


@pytest.mark.fault
def test_gzip_bomb_stops_at_the_decompressed_limit(server: LocalServer, store: Store) -> None:
    bomb = b"<rss>" + b" " * (50 * 1024 * 1024)
    url = server.route("/bomb.xml", Reply(bomb, gzip=True))
    report = fetch_only(store, make_config({"f": url}, max_body_bytes=1024 * 1024))
    assert report.feeds[0].error == "body too large"
    assert fetch_rows(store)[0]["bytes"] < 1024 * 1024  # stopped long before 50 MB


def test_malformed_xml_with_entries_is_kept(server: LocalServer, store: Store) -> None:
    body = rss(items(2)).replace(b"</channel>", b"<broken>&nbsp; <unclosed></channel>")
    url = server.route("/bad.xml", Reply(body))
    report = fetch_only(store, make_config({"f": url}))
    assert report.new == 2
    assert any("malformed feed kept" in n for n in report.feeds[0].notes)


@pytest.mark.fault
def test_html_page_instead_of_feed_is_an_error(server: LocalServer, store: Store) -> None:
    page = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>" \
           b"<p>Checking your browser</p></body></html>"
    url = server.route("/f.xml", Reply(page, content_type="text/html"))
    report = fetch_only(store, make_config({"f": url}))
    assert report.feeds[0].outcome == "failed"
    assert report.feeds[0].error == "html page, not a feed"


@pytest.mark.fault
def test_empty_200_is_an_error(server: LocalServer, store: Store) -> None:
    url = server.route("/f.xml", Reply(b""))
    report = fetch_only(store, make_config({"f": url}))
    assert report.feeds[0].error == "empty body"


def test_wrong_and_missing_charset(server: LocalServer, store: Store) -> None:
    latin = ('<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel>'
             "<title>t</title><item><title>Caf\u00e9 in orbit</title><guid>x1</guid>"
             "</item></channel></rss>").encode("iso-8859-1")
    a = server.route("/latin.xml", Reply(latin, content_type="application/rss+xml"))
    utf8_no_decl = ('<rss version="2.0"><channel><title>t</title><item>'
                    "<title>\u0420\u043e\u0441\u043a\u043e\u0441\u043c\u043e\u0441 news</title>"
                    "<guid>x2</guid></item></channel></rss>").encode("utf-8")
    b = server.route("/nodecl.xml", Reply(utf8_no_decl, content_type="text/xml"))
    fetch_only(store, make_config({"a": a, "b": b}))
    titles = {r["title"] for r in store.rows("SELECT title FROM articles")}
    assert "Caf\u00e9 in orbit" in titles
    assert "\u0420\u043e\u0441\u043a\u043e\u0441\u043c\u043e\u0441 news" in titles


def test_same_entry_in_two_feeds_is_one_article(server: LocalServer, store: Store) -> None:
    shared = items(1, "wire")
    a = server.route("/a.xml", Reply(rss(shared + items(1, "a"))))
    syndicated = [dict(shared[0], guid="other-guid", link="http://mirror.invalid/x")]
    b = server.route("/b.xml", Reply(rss(syndicated)))
    fetch_only(store, make_config({"a": a, "b": b}))
    assert count(store, "articles") == 2
    assert count(store, "article_sources") == 3  # linked to both feeds


def test_tracking_parameters_do_not_create_duplicates(server: LocalServer, store: Store) -> None:
    first = items(1)
    second = [dict(first[0], guid="g2", title="t2",
                   link=first[0]["link"] + "?utm_source=rss&amp;utm_medium=feed#top")]
    a = server.route("/a.xml", Reply(rss(first)))
    b = server.route("/b.xml", Reply(rss(second)))
    fetch_only(store, make_config({"a": a, "b": b}))
    assert count(store, "articles") == 1


@pytest.mark.fault
def test_one_bad_feed_does_not_hurt_the_others(server: LocalServer, store: Store) -> None:
    good = server.route("/good.xml", Reply(rss(items(3))))
    bad = server.route("/bad.xml", Reply(b"\x00\xff garbage", content_type="text/plain"))
    refused = "http://127.0.0.1:1/feed.xml"
    report = fetch_only(store, make_config({"good": good, "bad": bad, "refused": refused}))
    outcomes = {f.feed: (f.outcome, f.error) for f in report.feeds}
    assert outcomes["good"] == ("ok", None)
    assert outcomes["bad"][0] == "failed" and outcomes["refused"] == ("failed",
                                                                      "connection failed")
    assert count(store, "articles") == 3 and count(store, "fetches") == 3
