"""A webhook receiver on 127.0.0.1 for the alert tests: it keeps every POST and answers as
told (a status per request, or a hold until released)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST as the receiver got it, and what it answered."""

    headers: dict[str, str]
    body: bytes
    status: int = 0  # the status answered (0: still held, or never answered)
    answered: bool = False  # the whole reply was written to a client still listening

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """``with Receiver() as hook: hook.url`` — ``statuses`` answers each request in turn
    (the last one repeats); ``hold`` (an Event) makes every request wait until it is set."""

    def __init__(self, statuses: list[int] | None = None,
                 answer: Callable[[Received], int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.answer = answer
        self.received: list[Received] = []
        self.hold: threading.Event | None = None
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                item = Received(dict(self.headers), self.rfile.read(length))
                with receiver.arrived:
                    index = len(receiver.received)
                    receiver.received.append(item)
                    receiver.arrived.notify_all()
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                if receiver.answer is not None:
                    status = receiver.answer(item)
                else:
                    status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                item.status = status
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    self.wfile.flush()
                    item.answered = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda *a: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """Block until ``count`` requests have arrived (or fail after ``timeout``)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} requests arrived, not {count}")
            return list(self.received)

    def keys(self) -> list[str]:
        """The idempotency keys received, in order."""
        return [r.payload["idempotency_key"] for r in self.received]
