"""Full text: fetch the page behind each feed entry and extract its main text.

Pages are fetched with the same HTTP discipline as feeds (the :class:`Fetcher`: timeouts, an
overall deadline, the size cap, the redirect limit, the User-Agent, the refusal to follow
content to private addresses) plus per-host politeness: at most
``page_concurrency_per_host`` requests at once to one host and ``page_delay`` between them.
The main text comes from trafilatura (the leader of the public extraction benchmarks),
with comments and tables left out and precision favoured over recall.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import trafilatura

from .config import Settings
from .fetch import Fetcher, FetchResult
from .language import detect_language
from .records import NO_PROGRESS, Page, PageCounts, Progress, iso, now_utc, parse_iso
from .sanitize import clean_text
from .store import Store

log = logging.getLogger(__name__)

MIN_WORDS = 40
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w\-]+)""", re.I)
#: The meta tags that state when an article was published (Open Graph, schema.org
#: microdata, Dublin Core, common CMS tags). Nothing else on a page is taken as its date.
_META_PUBLISHED = re.compile(
    r"""<meta[^>]+(?:property|name|itemprop)\s*=\s*["'](?:article:published_time|"""
    r"""og:published_time|datePublished|pubdate|publish[-_]date|dc\.date|dc\.date\.issued|"""
    r"""dcterms\.created|dcterms\.issued|sailthru\.date|parsely-pub-date)["'][^>]*>""", re.I)
_CONTENT = re.compile(r"""content\s*=\s*["']([^"']+)["']""", re.I)
_JSON_LD = re.compile(r"""<script[^>]+type\s*=\s*["']application/ld\+json["'][^>]*>(.*?)"""
                      r"</script>", re.I | re.S)
#: Page dates before this, or more than a day ahead, are not believed.
_EARLIEST_PAGE_DATE = datetime(1990, 1, 1, tzinfo=UTC)


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

    def _wait_turn(self, host: str) -> float:
        """Sleep until this request's turn on ``host``; returns the turn (monotonic time)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + self.delay
        if start > now:
            time.sleep(start - now)
        return start


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

    def failed(error: str) -> Page:
        return Page(url=url, ok=False, error=error, http_status=result.status,
                    final_url=result.url)

    if not result.ok:
        return failed(result.error or "fetch failed")
    kind = result.content_type.split(";")[0].strip().lower()
    if kind and kind not in _HTML_TYPES:
        return failed("not html")
    html = decode_html(result.body, result.content_type)
    try:
        # Its date is not used (see page_published): no extensive search over the page.
        doc = trafilatura.bare_extraction(html, url=result.url, with_metadata=True,
                                          include_comments=False, include_tables=False,
                                          favor_precision=True,
                                          date_extraction_params={"extensive_search": False,
                                                                  "original_date": True})
    except (ValueError, TypeError, AttributeError) as exc:  # trafilatura on odd markup
        return failed(f"extraction error: {type(exc).__name__}")
    text = clean_text(getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if len(text.split()) < MIN_WORDS:
        return failed("empty extraction")
    return Page(url=url, ok=True, text=text, http_status=result.status, final_url=result.url,
                title=clean_text(getattr(doc, "title", None) or "").strip() or None,
                author=clean_text(getattr(doc, "author", None) or "").strip() or None,
                published_at=page_published(html))


def run_full_text(store: Store, settings: Settings, fetcher: Fetcher | None = None, *,
                  progress: Progress = NO_PROGRESS) -> PageCounts:
    """Fetch and extract the pages of the stored articles that want them (each URL once,
    however many feeds carried it), and apply each page to its articles (one transaction
    per page)."""
    todo = store.articles_needing_pages(settings.extract_max_attempts)
    if not todo:
        return PageCounts()
    by_url: dict[str, list[int]] = {}
    undecided: dict[str, tuple[str, str | None]] = {}  # url -> (title, hint)
    jobs = []
    for row in todo:
        if row["url"] not in by_url:
            jobs.append((row["url"], urlsplit(row["feed_url"]).hostname or ""))
        by_url.setdefault(row["url"], []).append(row["id"])
        if row["language_source"] in (None, "hint", "default"):  # its summary could not tell
            undecided.setdefault(row["url"], (row["title"],
                                              row["feed_language"] or row["language"]))
    progress.stage("full text", len(jobs))
    own = fetcher is None
    fetcher = fetcher or Fetcher(settings)
    try:
        pages = fetch_pages(fetcher, settings, jobs, on_done=lambda _page: progress.advance(1))
    finally:
        if own:
            fetcher.close()
    extracted = 0
    for url, page in pages.items():
        language = None
        if page.ok and url in undecided:
            title, hint = undecided[url]
            language = detect_language(f"{page.title or title}\n{page.text}", hint=hint)
        store.save_page(page, by_url[url], iso(now_utc()), language=language)
        extracted += page.ok
        if not page.ok:
            log.info("full text for %s failed: %s", url, page.error)
    return PageCounts(pages=len(jobs), extracted=extracted, failed=len(pages) - extracted)


def page_published(html: str) -> str | None:
    """When the page says its article was published, from the article's own metadata only:
    a published-time meta tag, ``datePublished`` in JSON-LD, or a ``<time datetime>`` marked
    as the publication time or in the article's header. A year in a footer ("© 2019–2024"),
    a date in the URL or in running text is not a publication date: without metadata the
    article keeps the fetch time, flagged estimated."""
    head = html[:300_000]
    for tag in _META_PUBLISHED.finditer(head):
        content = _CONTENT.search(tag.group(0))
        when = _iso_date(content.group(1)) if content else None
        if when:
            return when
    for block in _JSON_LD.finditer(head):
        try:
            data = json.loads(block.group(1).strip())
        except ValueError:
            continue
        for value in _json_ld_dates(data):
            when = _iso_date(value)
            if when:
                return when
    finder = _HeaderTime()
    try:
        finder.feed(head)
    except (AssertionError, ValueError):  # html.parser gives up on some garbage
        return None
    return _iso_date(finder.found) if finder.found else None


_ARTICLE_TYPES = ("Article", "NewsArticle", "ReportageNewsArticle", "AnalysisNewsArticle",
                  "BlogPosting", "Report", "PressRelease", "LiveBlogPosting", "WebPage")


def _json_ld_dates(data: Any) -> Iterator[str]:
    """``datePublished`` of the article objects in a JSON-LD document, articles first."""
    nodes: list[Any] = []
    stack = [data]
    while stack and len(nodes) < 200:
        node = stack.pop(0)
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            nodes.append(node)
            stack.extend(v for k, v in node.items() if k in ("@graph", "mainEntity",
                                                               "mainEntityOfPage"))
    # A WebPage's date only when no article object has one.
    ranked = sorted(nodes, key=lambda n: 0 if _json_ld_kinds(n) & set(_ARTICLE_TYPES[:-1])
                    else 1)
    for node in ranked:
        if _json_ld_kinds(node) & set(_ARTICLE_TYPES) and \
                isinstance(node.get("datePublished"), str):
            yield node["datePublished"]


def _json_ld_kinds(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    return {str(k) for k in kind} if isinstance(kind, list) else {str(kind)}


class _HeaderTime(HTMLParser):
    """Finds the first ``<time datetime>`` that marks a publication time: with
    ``itemprop="datePublished"`` or ``pubdate`` anywhere, or inside an ``<article>`` before
    its first paragraph (its header, byline or dateline)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: str | None = None
        self._article = 0
        self._paragraph_seen = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found:
            return
        if tag == "article":
            self._article += 1
            self._paragraph_seen = False
        elif tag == "p" and self._article:
            self._paragraph_seen = True
        elif tag == "time":
            values = dict(attrs)
            stamp = values.get("datetime")
            marked = values.get("itemprop") == "datePublished" or "pubdate" in values
            if stamp and (marked or (self._article and not self._paragraph_seen)):
                self.found = stamp

    def handle_endtag(self, tag: str) -> None:
        if tag == "article" and self._article:
            self._article -= 1


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
    """An ISO 8601 or RFC 2822 date as UTC ISO, or None when it is not a plausible date."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    try:
        when = parse_iso(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if not _EARLIEST_PAGE_DATE <= when <= now_utc() + timedelta(days=1):
        return None
    return iso(when)
