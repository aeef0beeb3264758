"""The bundled demo: sample feeds and article pages served from 127.0.0.1.

The files under ``demo_data/`` were written for the project. The server fills in two kinds of
placeholder at serve time so the demo always looks current: ``{{base}}`` (the server's URL)
and ``{{date:N:HH:MM}}`` (N days before today at HH:MM UTC, RFC 822 inside ``<pubDate>``,
ISO-8601 elsewhere). It answers conditional GETs, so a second pass sees 304s.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .config import Config, Feed, Settings

DATA_DIR = Path(__file__).parent / "demo_data"
_DATE = re.compile(r"\{\{date:(\d+):(\d\d):(\d\d)\}\}")


def send_conditional(handler: BaseHTTPRequestHandler, body: bytes, content_type: str) -> bool:
    """Answer a GET with ``body`` and an ETag, or 304 when the client already has it.

    Returns True when the answer was 304 Not Modified.
    """
    etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
    if handler.headers.get("If-None-Match") == etag:
        handler.send_response(304)
        handler.send_header("ETag", etag)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return True
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("ETag", etag)
    handler.end_headers()
    handler.wfile.write(body)
    return False


def render(text: str, base: str, today: datetime) -> str:
    """Fill in ``{{base}}`` and ``{{date:N:HH:MM}}`` placeholders."""

    def date(match: re.Match[str]) -> str:
        days, hour, minute = (int(g) for g in match.groups())
        when = (today - timedelta(days=days)).replace(hour=hour, minute=minute, second=0,
                                                      microsecond=0)
        if when > today:  # early in the day: "today at 06:50" has not happened yet
            when -= timedelta(days=1)
        before = text[max(0, match.start() - 12):match.start()].lower()
        if "pubdate>" in before:
            return email.utils.format_datetime(when, usegmt=True)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    return _DATE.sub(date, text.replace("{{base}}", base))


class DemoServer:
    """A threaded HTTP server on 127.0.0.1 serving ``demo_data`` (ephemeral port)."""

    def __init__(self, root: Path = DATA_DIR, today: datetime | None = None) -> None:
        self.root = root
        self.today = today or datetime.now(UTC)
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                path = (server.root / self.path.split("?")[0].lstrip("/")).resolve()
                if server.root.resolve() not in path.parents or not path.is_file():
                    self.send_error(404)
                    return
                body = render(path.read_text(encoding="utf-8"), server.url,
                              server.today).encode("utf-8")
                kind = ("application/rss+xml" if path.suffix == ".xml"
                        else "text/html; charset=utf-8")
                if path.suffix == ".xml" and b"<feed" in body[:500]:
                    kind = "application/atom+xml"
                send_conditional(self, body, kind)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> DemoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def feed_names(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "feeds").glob("*.xml"))


def demo_config(server: DemoServer, settings: Settings, full_text: bool = True) -> Config:
    """A configuration with one feed per bundled feed file, pointing at ``server``."""
    feeds = tuple(
        Feed(name=name, url=f"{server.url}/feeds/{name}.xml", interval=settings.default_interval,
             tags=("demo",), language="ru" if name.endswith("-ru") else None,
             full_text=full_text)
        for name in server.feed_names())
    return Config(feeds=feeds, settings=dataclasses.replace(settings, page_delay=0.0))
