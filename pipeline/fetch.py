"""HTTP with limits: the only place SpaceWatch talks to the network.

feedparser never fetches URLs itself (it has no timeout); this module does, with connect and
read timeouts plus an overall deadline, a cap on the body (compressed *and* decompressed, so a
gzip bomb stops early), a redirect limit, conditional GET, Retry-After, and a refusal to let
content steer the fetcher to private, loopback or link-local addresses.

Every call ends in a :class:`FetchResult` with one named outcome and a short fixed reason.
"""

from __future__ import annotations

import email.utils
import ipaddress
import socket
import threading
import time
import weakref
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from . import __version__
from .config import Settings
from .records import CANCELLED, FAILED, NOT_MODIFIED, OK

#: Redirects that say the resource moved for good (RFC 9110); 302/303/307 are temporary.
MOVED_PERMANENTLY = frozenset({301, 308})


@dataclass
class FetchResult:
    """What one GET (with its redirects) came to."""

    url: str
    outcome: str
    status: int | None = None
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    detail: str | None = None
    retry_after: float | None = None
    duration_ms: int = 0
    bytes_read: int = 0
    #: Where the URL asked for moved permanently: the target of the 301/308 redirects at
    #: the start of the chain (a temporary redirect after them does not count).
    moved_to: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == OK

class _Refused(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


def user_agent(settings: Settings) -> str:
    """The User-Agent: the project, its version and the operator's contact."""
    contact = f"; contact: {settings.contact}" if settings.contact else ""
    return f"SpaceWatch/{__version__} (news monitor for space diplomacy{contact})"


def parse_retry_after(value: str | None, cap: float, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), capped at ``cap``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, min(when.timestamp() - now, cap))


def is_public_address(host: str) -> bool:
    """True if every address ``host`` resolves to is globally routable."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        return True  # unresolvable: the request itself will fail with a clear reason
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])  # AF_INET(6): a str
        if not address.is_global:
            return False
    return True


class Fetcher:
    """A thread-safe HTTP client with SpaceWatch's limits. Use as a context manager."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        timeout = httpx.Timeout(connect=settings.timeout_connect, read=settings.timeout_read,
                                write=settings.timeout_read, pool=settings.timeout_total)
        limits = httpx.Limits(max_connections=max(4, settings.concurrency * 2),
                              max_keepalive_connections=settings.concurrency)
        self._client = httpx.Client(
            timeout=timeout, limits=limits, follow_redirects=False, transport=transport,
            headers={"User-Agent": user_agent(settings), "Accept-Encoding": "gzip, deflate"},
            trust_env=False,
        )
        self._cancelled = threading.Event()
        # Every socket a connection of this client opened (weakly: closed ones drop out),
        # so that cancel() can wake a thread blocked reading one.
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._sockets_lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def cancel(self) -> None:
        """Stop every request in flight at once and refuse new ones (the daemon's shutdown).

        Each affected :meth:`get` returns a :data:`CANCELLED` result, whatever it was doing:
        waiting for the status line, reading the body, or about to start. The sockets are
        shut down, which wakes a thread blocked on them; the fetcher is done for after this.
        """
        self._cancelled.set()
        with self._sockets_lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shut_down(sock)

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: remember each socket a new connection opens."""
        if not event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None:
            return
        with self._sockets_lock:
            self._sockets.add(sock)
        if self._cancelled.is_set():  # cancel() ran while this connection was being made
            _shut_down(sock)

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
            trusted_hosts: Iterable[str] = (), accept: str = "*/*") -> FetchResult:
        """GET ``url``, following redirects within the limits.

        ``trusted_hosts`` are host names the user configured (a feed's own host): they may be
        private addresses. Any other host a redirect or a link leads to must be public, unless
        it is listed in ``settings.allow_private_hosts``.
        """
        started = time.monotonic()
        deadline = started + self.settings.timeout_total
        trusted = {h.lower() for h in trusted_hosts} | {
            h.lower() for h in self.settings.allow_private_hosts}
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        result = FetchResult(url=url, outcome=FAILED)
        if self._cancelled.is_set():
            return self._cancel_result(result, started)
        seen: set[str] = set()
        current = url
        permanent = True
        try:
            for hop in range(self.settings.max_redirects + 1):
                self._check_url(current, trusted)
                if current in seen:
                    raise _Refused("redirect loop", f"redirect loop at {current}")
                seen.add(current)
                location = self._request(current, headers, deadline, result)
                if location is None:
                    break
                current = urljoin(current, location)
                result.url = current
                permanent = permanent and result.status in MOVED_PERMANENTLY
                if permanent:
                    result.moved_to = current
                if hop == self.settings.max_redirects:
                    raise _Refused("too many redirects",
                                   f"more than {self.settings.max_redirects} redirects")
        except _Refused as refused:
            result.outcome, result.error, result.detail = FAILED, refused.reason, refused.detail
            result.body = b""
        except httpx.ConnectTimeout:
            result.outcome, result.error = FAILED, "connect timeout"
        except httpx.ReadTimeout:
            result.outcome, result.error = FAILED, "read timeout"
        except httpx.TimeoutException:
            result.outcome, result.error = FAILED, "timeout"
        except httpx.ConnectError as exc:
            result.outcome, result.error, result.detail = FAILED, "connection failed", str(exc)
        except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
            result.outcome, result.error = FAILED, "connection broken"
            result.detail = str(exc) or type(exc).__name__
        except httpx.HTTPError as exc:
            result.outcome, result.error = FAILED, "http client error"
            result.detail = f"{type(exc).__name__}: {exc}"
        if self._cancelled.is_set():
            # Whatever the cut-off request ended in (a broken connection, a body that looks
            # complete because its socket was shut), it is no verdict on the feed.
            return self._cancel_result(result, started)
        if result.outcome == FAILED:
            result.body = b""
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    @staticmethod
    def _cancel_result(result: FetchResult, started: float) -> FetchResult:
        result.outcome, result.error = CANCELLED, "cancelled"
        result.detail = "stopped by a shutdown"
        result.body = b""
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    # -- internals -------------------------------------------------------------------------

    def _check_url(self, url: str, trusted: set[str]) -> None:
        if len(url) > self.settings.max_url_length:
            raise _Refused("url too long", f"URL longer than {self.settings.max_url_length}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Refused("unsupported url", f"not an http(s) URL: {url[:200]}")
        host = parts.hostname.lower()
        if host not in trusted and not is_public_address(host):
            raise _Refused("blocked address",
                           f"{host} resolves to a private, loopback or link-local address")

    def _request(self, url: str, headers: dict[str, str], deadline: float,
                 result: FetchResult) -> str | None:
        """Perform one request; return a redirect location or None when done."""
        if self._cancelled.is_set():
            raise _Refused("cancelled")  # get() turns it into CANCELLED
        if time.monotonic() >= deadline:
            raise _Refused("deadline exceeded", "overall fetch deadline reached")
        with self._client.stream("GET", url, headers=headers,
                                 extensions={"trace": self._trace}) as response:
            result.status = response.status_code
            if response.is_redirect and "location" in response.headers:
                return response.headers["location"]
            result.content_type = response.headers.get("content-type", "")
            result.etag = response.headers.get("etag")
            result.last_modified = response.headers.get("last-modified")
            if response.status_code == 304:
                result.outcome = NOT_MODIFIED
                return None
            if response.status_code in (429, 503):
                result.retry_after = parse_retry_after(response.headers.get("retry-after"),
                                                       self.settings.retry_after_max)
            if response.status_code >= 400 or response.status_code < 200:
                result.outcome, result.error = FAILED, f"http {response.status_code}"
                return None
            result.body = self._read_body(response, deadline, result)
            result.outcome = OK
            return None

    def _read_body(self, response: httpx.Response, deadline: float,
                   result: FetchResult) -> bytes:
        limit = self.settings.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Refused("body too large", f"Content-Length {declared} over {limit} bytes")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            decoder: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            decoder = zlib.decompressobj()
        elif encoding in ("", "identity"):
            decoder = None
        else:
            raise _Refused("unsupported encoding", f"content-encoding {encoding!r}")
        out = bytearray()
        for chunk in response.iter_raw():
            if self._cancelled.is_set():
                raise _Refused("cancelled")  # get() turns it into CANCELLED
            result.bytes_read += len(chunk)
            if result.bytes_read > limit:
                raise _Refused("body too large", f"body over {limit} bytes")
            if decoder is None:
                out += chunk
            else:
                try:
                    out += decoder.decompress(chunk, limit + 1 - len(out))
                    # Drain output held back by max_length, still bounded by the limit.
                    while decoder.unconsumed_tail and len(out) <= limit:
                        out += decoder.decompress(decoder.unconsumed_tail, limit + 1 - len(out))
                except zlib.error as exc:
                    raise _Refused("bad compression", f"{encoding}: {exc}") from None
            if len(out) > limit:
                raise _Refused("body too large", f"decompressed body over {limit} bytes")
            if time.monotonic() > deadline:
                raise _Refused("deadline exceeded", "overall fetch deadline reached")
        return bytes(out)


def _shut_down(sock: socket.socket) -> None:
    """Shut a socket down both ways: a thread blocked reading it wakes up at once (closing
    it would not wake it). The C-level call, so a TLS socket is not unwrapped first."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: nothing is waiting on it
