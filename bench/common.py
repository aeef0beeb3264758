"""Shared pieces for the benchmarks: a corpus served as feeds from 127.0.0.1, RSS, timing."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from bench.corpus import Doc
from pipeline.config import Config, Feed, Settings
from pipeline.demo import send_conditional

ROOT = Path(__file__).resolve().parent.parent


def feed_xml(name: str, docs: list[Doc], base: str) -> bytes:
    now = datetime(2025, 7, 16, 12, 0, tzinfo=UTC)
    items = []
    for i, doc in enumerate(docs):
        when = format_datetime(now - timedelta(minutes=7 * i), usegmt=True)
        items.append(f"<item><title>{escape(doc.title)}</title>"
                     f"<link>{base}/{name}/{i}</link><guid isPermaLink='false'>{name}-{i}</guid>"
                     f"<pubDate>{when}</pubDate><description>{escape(doc.text)}</description>"
                     "</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{name}</title><link>{base}</link><description>bench</description>"
            f"{''.join(items)}</channel></rss>").encode()


class FeedFarm:
    """Serves named RSS documents on 127.0.0.1 with ETags and an optional delay per request."""

    def __init__(self, delay: float = 0.0) -> None:
        self.bodies: dict[str, bytes] = {}
        self.delay = delay
        self.requests = 0
        self.not_modified = 0
        farm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                farm.requests += 1
                if farm.delay:
                    time.sleep(farm.delay)
                body = farm.bodies.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if send_conditional(self, body, "application/rss+xml"):
                    farm.not_modified += 1

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.request_queue_size = 256
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FeedFarm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def add(self, name: str, docs: list[Doc]) -> str:
        self.bodies[f"/{name}.xml"] = feed_xml(name, docs, self.base)
        return f"{self.base}/{name}.xml"


def bench_config(feeds: dict[str, str], **settings: object) -> Config:
    base: dict[str, object] = {"full_text": False, "timeout_total": 120.0,
                               "max_items_per_feed": 1000, "seeds_dir": str(ROOT / "seeds")}
    base.update(settings)
    return Config(feeds=tuple(Feed(name=n, url=u) for n, u in feeds.items()),
                  settings=dataclasses.replace(Settings(), **base))


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    box = {"seconds": 0.0}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


def _status_mb(key: str) -> float:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_mb() -> float:
    """Current resident set size of this process in MiB."""
    return _status_mb("VmRSS:")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB."""
    return _status_mb("VmHWM:")
