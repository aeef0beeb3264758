"""Full text: fetch the page behind each feed entry and extract its main text.

Pages are fetched with the same HTTP discipline as feeds (the :class:`Fetcher`: timeouts, an
overall deadline, the size cap, the redirect limit, the User-Agent, the refusal to follow
content to private addresses) plus per-host politeness: at most
``page_concurrency_per_host`` requests at once to one host and ``page_delay`` between them.
The main text comes from trafilatura (the leader of the public extraction benchmarks),
with comments and tables left out and precision favoured over recall.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import trafilatura

from .config import Settings
from .fetch import Fetcher, FetchResult

MIN_WORDS = 40
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w\-]+)""", re.I)
_META_PUBLISHED = re.compile(
    r"""<meta[^>]+(?:property|name|itemprop)\s*=\s*["'](?:article:published_time|"""
    r"""datePublished|pubdate|publish-date|dc\.date)["'][^>]*>""", re.I)
_CONTENT = re.compile(r"""content\s*=\s*["']([^"']+)["']""", re.I)


@dataclass
class Page:
    """What one article page came to."""

    url: str
    ok: bool
    text: str = ""
    title: str | None = None
    author: str | None = None
    published_at: str | None = None
    error: str | None = None
    http_status: int | None = None
    final_url: str | None = None


class HostGate:
    """Per-host politeness: a bounded number of requests at once and a delay between them."""

    def __init__(self, per_host: int, delay: float) -> None:
        self.per_host = per_host
        self.delay = delay
        self._lock = threading.Lock()
        self._slots: dict[str, threading.Semaphore] = {}
        self._next: dict[str, float] = {}

    def __call__(self, host: str) -> _Slot:
        with self._lock:
            slot = self._slots.setdefault(host, threading.Semaphore(self.per_host))
        return _Slot(self, host, slot)

    def _wait_turn(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + self.delay
        if start > now:
            time.sleep(start - now)


class _Slot:
    def __init__(self, gate: HostGate, host: str, sem: threading.Semaphore) -> None:
        self.gate, self.host, self.sem = gate, host, sem

    def __enter__(self) -> None:
        self.sem.acquire()
        self.gate._wait_turn(self.host)

    def __exit__(self, *exc: object) -> None:
        self.sem.release()


def fetch_pages(fetcher: Fetcher, settings: Settings, jobs: list[tuple[str, str]],
                on_done: Callable[[Page], None] | None = None) -> dict[str, Page]:
    """Fetch and extract each (url, trusted feed host) once; returns pages by URL."""
    gate = HostGate(settings.page_concurrency_per_host, settings.page_delay)
    unique = dict(jobs)  # one fetch per URL, whatever number of feeds carried it

    def work(url: str, trusted: str) -> Page:
        with gate(urlsplit(url).hostname or ""):
            result = fetcher.get(url, trusted_hosts=[trusted],
                                 accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")
        page = extract_page(url, result)
        if on_done:
            on_done(page)
        return page

    with ThreadPoolExecutor(max_workers=settings.concurrency,
                            thread_name_prefix="page") as pool:
        futures = {url: pool.submit(work, url, trusted) for url, trusted in unique.items()}
        return {url: future.result() for url, future in futures.items()}


def extract_page(url: str, result: FetchResult) -> Page:
    """Turn a fetched page into text and metadata, or a failure with a fixed reason."""
    page = Page(url=url, ok=False, http_status=result.status, final_url=result.url)
    if not result.ok:
        page.error = result.error or "fetch failed"
        return page
    kind = result.content_type.split(";")[0].strip().lower()
    if kind and kind not in _HTML_TYPES:
        page.error = "not html"
        return page
    html = decode_html(result.body, result.content_type)
    try:
        doc = trafilatura.bare_extraction(html, url=result.url, with_metadata=True,
                                          include_comments=False, include_tables=False,
                                          favor_precision=True)
    except (ValueError, TypeError, AttributeError) as exc:  # trafilatura on odd markup
        page.error = f"extraction error: {type(exc).__name__}"
        return page
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if len(text.split()) < MIN_WORDS:
        page.error = "empty extraction"
        return page
    page.ok = True
    page.text = text
    page.title = (getattr(doc, "title", None) or "").strip() or None
    page.author = (getattr(doc, "author", None) or "").strip() or None
    # The page's own timestamp meta tag keeps the time of day; trafilatura gives the day.
    page.published_at = _meta_published(html) or _iso_date(getattr(doc, "date", None))
    return page


def _meta_published(html: str) -> str | None:
    tag = _META_PUBLISHED.search(html[:200_000])
    content = _CONTENT.search(tag.group(0)) if tag else None
    return _iso_date(content.group(1).replace("Z", "+00:00")) if content else None


def decode_html(body: bytes, content_type: str) -> str:
    """Decode with the HTTP charset, else the page's <meta charset>, else UTF-8."""
    charset = None
    match = re.search(r"charset=([\w\-]+)", content_type or "", re.I)
    if match:
        charset = match.group(1)
    else:
        meta = _META_CHARSET.search(body[:4096])
        if meta:
            charset = meta.group(1).decode("ascii", "replace")
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return body.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", errors="replace")


def _iso_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
