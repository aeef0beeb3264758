"""Fault suite, network and HTTP: every hostile or broken server ends in a recorded outcome
with a fixed reason — never a hang, a traceback or a half-written batch.

All servers run on 127.0.0.1. Addresses that must be refused (private, link-local) are
refused before any connection is attempted, so no traffic leaves the machine.
"""

from __future__ import annotations

import email.utils
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.config import Settings
from pipeline.fetch import Fetcher, parse_retry_after
from pipeline.store import Store

from .conftest import fetch_only, make_config
from .httpserver import LocalServer, Reply, items, rss

pytestmark = pytest.mark.fault


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def outcome(store: Store) -> dict:
    return store.rows("SELECT outcome, error, http_status FROM fetches ORDER BY id DESC")[0]


def test_server_that_never_answers_times_out(silent_server: str, store: Store) -> None:
    fetch_only(store, make_config({"f": silent_server}, timeout_read=1.0))
    assert outcome(store)["error"] == "read timeout"


def test_drip_feed_hits_the_overall_deadline(server: LocalServer, store: Store) -> None:
    url = server.route("/drip.xml", Reply(rss(items(50)), drip=0.3))
    started = time.monotonic()
    fetch_only(store, make_config({"f": url}, timeout_read=1.0, timeout_total=2.0))
    assert outcome(store)["error"] == "deadline exceeded"
    assert time.monotonic() - started < 10  # cut off, not read to the end (~2 hours)
    assert store.scalar("SELECT count(*) FROM articles") == 0


def test_connection_reset_mid_body(server: LocalServer, store: Store) -> None:
    url = server.route("/reset.xml", Reply(rss(items(200)), reset_after=2000))
    fetch_only(store, make_config({"f": url}))
    assert outcome(store)["error"] == "connection broken"
    assert store.scalar("SELECT count(*) FROM articles") == 0


@pytest.mark.parametrize("status", [200, 403])
def test_challenge_page_is_an_error_not_zero_articles(server: LocalServer, store: Store,
                                                      status: int) -> None:
    page = b"<html><head><title>Attention Required! | Cloudflare</title></head><body>" \
           b"<h1>Please enable cookies.</h1></body></html>"
    url = server.route("/f.xml", Reply(page, status=status, content_type="text/html"))
    report = fetch_only(store, make_config({"f": url}))
    assert report.feeds[0].outcome == "failed"
    assert outcome(store)["error"] in ("html page, not a feed", "http 403")


@pytest.mark.parametrize("target", ["http://10.1.2.3/feed.xml", "http://169.254.169.254/latest",
                                    "http://192.168.1.1/", "http://[::1]:9/feed.xml"])
def test_redirect_into_the_private_network_is_refused(server: LocalServer, store: Store,
                                                      target: str) -> None:
    url = server.route("/f.xml", Reply(status=302, headers={"Location": target}))
    fetch_only(store, make_config({"f": url}))
    assert outcome(store)["error"] == "blocked address"


def test_redirect_to_another_loopback_name_is_refused(server: LocalServer, store: Store) -> None:
    server.route("/real.xml", Reply(rss(items(1))))
    url = server.route("/f.xml", Reply(status=301, headers={
        "Location": f"http://localhost:{server.port}/real.xml"}))
    fetch_only(store, make_config({"f": url}))
    assert outcome(store)["error"] == "blocked address"


def test_configured_feed_on_loopback_may_reach_its_own_host(server: LocalServer,
                                                           store: Store) -> None:
    server.route("/real.xml", Reply(rss(items(1))))
    url = server.route("/f.xml", Reply(status=301, headers={"Location": "/real.xml"}))
    assert fetch_only(store, make_config({"f": url})).new == 1


def test_retry_after_forms() -> None:
    cap = Settings().retry_after_max
    assert parse_retry_after("120", cap) == 120
    when = datetime.now(UTC) + timedelta(minutes=10)
    as_date = parse_retry_after(email.utils.format_datetime(when, usegmt=True), cap)
    assert as_date is not None and 590 <= as_date <= 600
    assert parse_retry_after("999999999", cap) == cap  # absurdly long: capped
    assert parse_retry_after("soon", cap) is None


def test_retry_after_http_date_sets_next_fetch(server: LocalServer, store: Store) -> None:
    when = datetime.now(UTC) + timedelta(hours=2)
    url = server.route("/f.xml", Reply(status=503, headers={
        "Retry-After": email.utils.format_datetime(when, usegmt=True)}))
    fetch_only(store, make_config({"f": url}))
    stored = datetime.fromisoformat(store.feed_status()[0]["next_fetch_at"].replace("Z",
                                                                                    "+00:00"))
    assert abs((stored - when).total_seconds()) < 5


def test_absurd_retry_after_is_capped(server: LocalServer, store: Store) -> None:
    url = server.route("/f.xml", Reply(status=429, headers={"Retry-After": "315360000"}))
    fetch_only(store, make_config({"f": url}, retry_after_max=3600.0))
    stored = datetime.fromisoformat(store.feed_status()[0]["next_fetch_at"].replace("Z",
                                                                                    "+00:00"))
    assert (stored - datetime.now(UTC)).total_seconds() <= 3600


# 410 Gone disables at once instead: test_feed_edges.py
@pytest.mark.parametrize("status", [404, 500, 502])
def test_repeated_failures_back_off_then_flag_the_feed(server: LocalServer, store: Store,
                                                      status: int) -> None:
    url = server.route("/f.xml", Reply(status=status))
    config = make_config({"f": url}, disable_after=4, backoff_base=1.0)
    for _ in range(4):
        fetch_only(store, config, force=True)
    row = store.feed_status()[0]
    assert row["error_count"] == 4 and row["disabled"] == 1
    assert f"http {status}" in row["disabled_reason"]
    assert fetch_only(store, config).feeds[0].error == "disabled"
    # A later success (forced by the user) clears the flag.
    server.route("/f.xml", Reply(rss(items(1))))
    fetch_only(store, config, force=True)
    assert store.feed_status()[0]["disabled"] == 0


def test_fetcher_refuses_non_http_schemes_and_overlong_urls() -> None:
    with Fetcher(Settings()) as fetcher:
        assert fetcher.get("file:///etc/passwd").error == "unsupported url"
        assert fetcher.get("http://127.0.0.1/" + "a" * 3000).error == "url too long"
