"""A local HTTP server on 127.0.0.1 for tests: each route answers as its spec says."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """How a route answers."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/rss+xml"
    delay: float = 0.0          # seconds before answering
    drip: float = 0.0           # seconds between body bytes (no Content-Length)
    gzip: bool = False
    etag: bool = False          # send an ETag and honour If-None-Match
    chunked: bool = False       # stream the body without Content-Length
    reset_after: int | None = None  # close the socket after this many body bytes


Handler = Callable[[BaseHTTPRequestHandler], Reply]


class LocalServer:
    """``with LocalServer() as srv: srv.route('/f.xml', Reply(...)); srv.url('/f.xml')``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Reply | Handler] = {}
        self.hits: dict[str, int] = {}
        self.request_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                path = self.path
                with server._lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                    server.request_headers.append(dict(self.headers))
                spec = server.routes.get(path) or server.routes.get(path.split("?")[0])
                if spec is None:
                    reply = Reply(status=404, body=b"not found", content_type="text/plain")
                elif callable(spec):
                    reply = spec(self)
                else:
                    reply = spec
                try:
                    server._answer(self, reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._httpd = ThreadingHTTPServer((host, 0), H)
        self._httpd.daemon_threads = True
        default_handle_error = self._httpd.handle_error

        def handle_error(request: object, client_address: object) -> None:
            import sys

            if isinstance(sys.exc_info()[1], ConnectionError):
                return  # a client that went away (killed, timed out): not a server bug
            default_handle_error(request, client_address)  # type: ignore[arg-type]

        self._httpd.handle_error = handle_error  # type: ignore[method-assign]
        self.base = f"http://{host}:{self._httpd.server_address[1]}"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def route(self, path: str, reply: Reply | Handler) -> str:
        self.routes[path] = reply
        return self.url(path)

    def url(self, path: str) -> str:
        return self.base + path

    def _answer(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            self._stop.wait(reply.delay)
        body = gzip.compress(reply.body) if reply.gzip else reply.body
        etag = '"' + hashlib.sha1(reply.body).hexdigest()[:12] + '"'
        if reply.etag and h.headers.get("If-None-Match") == etag:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_response(reply.status)
        if reply.content_type:
            h.send_header("Content-Type", reply.content_type)
        if reply.gzip:
            h.send_header("Content-Encoding", "gzip")
        if reply.etag:
            h.send_header("ETag", etag)
        for key, value in reply.headers.items():
            h.send_header(key, value)
        streamed = reply.drip or reply.chunked or reply.reset_after is not None
        if streamed:
            h.send_header("Connection", "close")
        else:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.flush()
        if not streamed:
            h.wfile.write(body)
            return
        if reply.reset_after is not None:
            import socket
            import struct

            h.wfile.write(body[: reply.reset_after])
            h.wfile.flush()
            time.sleep(0.05)
            # SO_LINGER 0: close() sends a TCP RST instead of a clean FIN.
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            return
        sent = 0
        step = 1 if reply.drip else 65536
        while sent < len(body) and not self._stop.is_set():
            h.wfile.write(body[sent:sent + step])
            h.wfile.flush()
            sent += step
            if reply.drip:
                time.sleep(reply.drip)
        h.close_connection = True


def rss(items: list[dict[str, str]], title: str = "Test feed", extra: str = "") -> bytes:
    """A small RSS 2.0 document; each item dict may have title, link, guid, description,
    pubDate."""
    parts = []
    for item in items:
        fields = "".join(f"<{k}>{v}</{k}>" for k, v in item.items())
        parts.append(f"<item>{fields}</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{title}</title><link>http://example.invalid/</link>"
            f"<description>t</description>{extra}{''.join(parts)}</channel></rss>"
            ).encode()


def items(n: int, prefix: str = "item", start: int = 0) -> list[dict[str, str]]:
    """``n`` distinct plausible items."""
    return [{"title": f"{prefix} {i}: NASA and Roscosmos discuss station plans",
             "link": f"http://news.example.invalid/{prefix}/{i}",
             "guid": f"{prefix}-{i}",
             "description": f"Story number {i} about the International Space Station.",
             "pubDate": "Tue, 15 Jul 2025 09:30:00 GMT"} for i in range(start, start + n)]
